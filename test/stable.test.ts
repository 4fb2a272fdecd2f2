import { Address, type AnyEvent, Digest, type DownResult, Event, EventType, Message, MessageBatch, Protocol, ProtocolStack, STABLE, View, ViewId } from 'tsgroups';
import { tsgroups } from '../protocols/src/generated/headers.js';
import { digestToData } from '../protocols/src/reliable/digest-codec.js';

// STABLE alone, above a fake NAKACK2 (answers GET_DIGEST, records STABLE events and what is
// sent) and below a recorder: when it gossips and what it finds stable, report by report.

const GOSSIP = tsgroups.protocols.StableHeader.Type.GOSSIP;

class Below extends Protocol {
  static override readonly provides: readonly string[] = ['transport', 'reliable-multicast'];
  /** What GET_DIGEST answers: this member's delivered seqnos. */
  digest = new Digest();
  readonly sent: Message[] = [];
  readonly stable: Digest[] = [];
  override down(msg: Message): DownResult {
    this.sent.push(msg);
    return undefined;
  }
  override downEvent(evt: AnyEvent): unknown {
    if (evt.type === EventType.GET_DIGEST) return this.digest;
    if (evt.type === EventType.STABLE) this.stable.push(evt.arg);
    return undefined;
  }
  gossipsSent(): number {
    return this.sent.filter((m) => m.getHeader(STABLE.id) !== undefined).length;
  }
}

class Above extends Protocol {
  delivered = 0;
  override up(): void {
    this.delivered++;
  }
  override upBatch(batch: MessageBatch): void {
    this.delivered += batch.size();
  }
}

const [A, B, C] = Array.from({ length: 3 }, () => Address.random()).sort((x, y) => x.compareTo(y)) as [Address, Address, Address];
let stack: ProtocolStack;
let below: Below;
let stable: STABLE;
let above: Above;

beforeEach(async () => {
  below = new Below();
  // No timer gossip during a test: only the byte trigger and explicit gossips.
  stable = new STABLE().setValues({ desired_avg_gossip: 3_600_000, max_bytes: '10K' });
  above = new Above();
  stack = new ProtocolStack([below, stable, above]);
  stack.localAddress = A;
  await stack.init();
  stack.downEvent(new Event(EventType.SET_LOCAL_ADDRESS, A));
  await stack.start();
});
afterEach(async () => {
  await stack.stop();
  await stack.destroy();
});

function install(members: Address[]): void {
  stack.downEvent(new Event(EventType.VIEW_CHANGE, new View(new ViewId(A, 1), members)));
}

/** A multicast of `size` bytes from `sender` coming up (as NAKACK2 delivers it). */
function multicast(sender: Address, size: number): Message {
  const msg = new Message(null, new Uint8Array(size));
  msg.src = sender;
  return msg;
}

/** `from`'s gossip: what it delivered of each sender (seqnos, in the order of `senders`). */
function gossipFrom(from: Address, delivered: [Address, number][]): void {
  const d = new Digest();
  for (const [s, n] of delivered) d.set(s, n, n);
  const msg = new Message(null);
  msg.src = from;
  msg.putHeader(STABLE.id, { type: GOSSIP, digest: digestToData(d) });
  stable.up(msg);
}

const seqnos = (d: Digest) => [...d].map(([m, r]) => [m, r.highestDelivered]);

describe('STABLE', () => {
  test('gossips once max_bytes of multicasts from other senders came up, though this member sent nothing', () => {
    install([A, B]);
    for (let i = 0; i < 9; i++) stable.up(multicast(B, 1000));
    stack.timer.runEndOfTurnTasks();
    expect(below.gossipsSent()).toBe(0);
    for (let i = 0; i < 2; i++) stable.up(multicast(B, 1000));
    stack.timer.runEndOfTurnTasks();
    expect(below.gossipsSent()).toBe(1);
    // Batches count the same, and a gossip in a batch is taken out of it.
    stable.upBatch(new MessageBatch(C, null, true, Array.from({ length: 9 }, () => multicast(C, 1000))));
    stack.timer.runEndOfTurnTasks();
    expect(below.gossipsSent()).toBe(1);
    const gossip = new Message(null);
    gossip.src = C;
    gossip.putHeader(STABLE.id, { type: GOSSIP, digest: [] });
    stable.upBatch(new MessageBatch(C, null, true, [multicast(C, 1000), gossip, multicast(C, 1000)]));
    stack.timer.runEndOfTurnTasks();
    expect(below.gossipsSent()).toBe(2);
    expect(stable.stats.gossipsReceived).toBe(1);
    expect(above.delivered).toBe(11 + 9 + 2);
  });

  test('every report brings a stable digest from the latest report of each member: a member that gossips often purges without waiting for the others to gossip again', () => {
    install([A, B, C]);
    below.digest = new Digest().set(A, 10, 10).set(B, 10, 10).set(C, 10, 10);
    stable.gossip();
    gossipFrom(B, [[A, 8], [B, 12], [C, 9]]);
    expect(below.stable).toHaveLength(0); // C has not reported yet
    gossipFrom(C, [[A, 7], [B, 11], [C, 9]]);
    expect(below.stable.map(seqnos)).toEqual([[[A, 7], [B, 10], [C, 9]]]);
    // B again, and then only B: each of its reports moves what is stable of A (A and C reported once).
    gossipFrom(B, [[A, 20], [B, 30], [C, 20]]);
    expect(below.stable.map(seqnos).at(-1)).toEqual([[A, 7], [B, 10], [C, 9]]);
    gossipFrom(C, [[A, 20], [B, 30], [C, 20]]);
    below.digest = new Digest().set(A, 20, 20).set(B, 25, 25).set(C, 15, 15);
    stable.gossip();
    expect(below.stable.map(seqnos).at(-1)).toEqual([[A, 20], [B, 25], [C, 15]]);
    gossipFrom(B, [[A, 40], [B, 40], [C, 40]]);
    expect(below.stable).toHaveLength(5);
  });

  test('a member that left no longer counts, and one that joined must report before anything is stable again', () => {
    install([A, B, C]);
    below.digest = new Digest().set(A, 5, 5).set(B, 5, 5).set(C, 5, 5);
    stable.gossip();
    gossipFrom(B, [[A, 5], [B, 5], [C, 5]]);
    install([A, B]); // C left: A's and B's reports cover the view
    gossipFrom(B, [[A, 6], [B, 6]]);
    expect(below.stable.map(seqnos)).toEqual([[[A, 5], [B, 5]]]);
    const D = Address.random();
    install([A, B, D]);
    gossipFrom(B, [[A, 9], [B, 9], [D, 1]]);
    expect(below.stable).toHaveLength(1); // D has not reported
    gossipFrom(D, [[A, 3], [B, 3], [D, 1]]);
    expect(below.stable.map(seqnos).at(-1)).toEqual([[A, 3], [B, 3]]);
  });
});
