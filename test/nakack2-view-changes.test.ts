import {
  Address,
  Digest,
  type DownResult,
  Event,
  EventType,
  Flag,
  Message,
  type MessageBatch,
  MergeView,
  NAKACK2,
  type NakAckHeader,
  Protocol,
  ProtocolStack,
  View,
  ViewId,
} from 'tsgroups';

// NAKACK2 alone, between a fake network below (records what it sends) and a recorder above:
// the rules that tie skips and window starts to view changes, driven message by message.

const T = { MSG: 1, XMIT_REQ: 2, XMIT_RSP: 3, HIGHEST_SEQNO: 4, FIRST_SEQNO: 5 } as const;

class Network extends Protocol {
  static override readonly provides: readonly string[] = ['transport'];
  readonly sent: Message[] = [];
  override down(msg: Message): DownResult {
    this.sent.push(msg);
    return undefined;
  }
  override downEvent(): unknown {
    return undefined;
  }
  /** The NAKACK2 headers of what was sent to `dest`, of one type. */
  headersTo(dest: Address | null, type: number): NakAckHeader[] {
    return this.sent
      .filter((m) => m.dest === dest)
      .map((m) => m.getHeader<NakAckHeader>(NAKACK2.id))
      .filter((h): h is NakAckHeader => h !== undefined && h.type === type);
  }
}

class Above extends Protocol {
  readonly delivered: string[] = [];
  override up(msg: Message): void {
    this.delivered.push(msg.getObject<string>());
  }
  override upBatch(batch: MessageBatch): void {
    for (const m of batch) this.up(m);
  }
}

const [A, B, C] = Array.from({ length: 3 }, () => Address.random()).sort((x, y) => x.compareTo(y)) as [Address, Address, Address];
let stack: ProtocolStack;
let net: Network;
let nak: NAKACK2;
let above: Above;
let viewSeq = 0;

beforeEach(async () => {
  net = new Network();
  nak = new NAKACK2().setValues({ xmit_interval: 60_000 });
  above = new Above();
  stack = new ProtocolStack([net, nak, above]);
  stack.localAddress = A;
  await stack.init();
  stack.downEvent(new Event(EventType.SET_LOCAL_ADDRESS, A));
  await stack.start();
  viewSeq = 0;
  loopedBack = 0;
});
afterEach(async () => {
  await stack.stop();
  await stack.destroy();
});

function install(members: Address[], merge = false): void {
  const id = new ViewId(A, ++viewSeq);
  const view = merge ? new MergeView(id, members, []) : new View(id, members);
  stack.downEvent(new Event(EventType.VIEW_CHANGE, view));
}

/** `sender`'s multicast number `seqno` (payload "<sender initial><seqno>") arriving from the network. */
function multicast(sender: Address, seqno: number): void {
  const msg = new Message(null, `${name(sender)}${seqno}`);
  msg.src = sender;
  msg.putHeader(NAKACK2.id, { type: T.MSG, seqno, missing: null, sender: null } satisfies NakAckHeader);
  nak.up(msg);
}

function control(from: Address, h: NakAckHeader): void {
  const msg = new Message(A).setFlag(Flag.OOB, Flag.NO_RELIABILITY);
  msg.src = from;
  msg.putHeader(NAKACK2.id, h);
  nak.up(msg);
}

/** The transport's loopback: our own multicasts sent so far come back up (once each). */
let loopedBack = 0;
function loopBack(): void {
  const own = net.sent.filter((m) => m.dest === null && m.getHeader<NakAckHeader>(NAKACK2.id)?.type === T.MSG);
  for (const m of own.slice(loopedBack)) nak.up(m);
  loopedBack = own.length;
}

function name(a: Address): string {
  return a === A ? 'A' : a === B ? 'B' : 'C';
}

describe('NAKACK2 across view changes', () => {
  test('a sender a merge brings back continues after what was delivered of it before it left, even when the merge digest is behind: nothing twice', () => {
    install([A, B, C]);
    for (let s = 1; s <= 5; s++) multicast(B, s);
    // A partition removes B here; its subgroup coordinator had delivered only up to 3 when the merge digest was taken.
    install([A, C]);
    stack.downEvent(new Event(EventType.MERGE_DIGEST, new Digest().set(B, 3, 3)));
    install([A, B, C], true);
    for (let s = 4; s <= 7; s++) multicast(B, s);
    expect(above.delivered).toEqual(['B1', 'B2', 'B3', 'B4', 'B5', 'B6', 'B7']);
    expect(nak.stats.duplicates).toBe(2);
  });

  test('STABLE never purges an own multicast that has not come back yet (lost below us): it is still there to resend to ourselves', async () => {
    install([A, B]);
    for (let i = 0; i < 3; i++) await stack.down(new Message(null, `A${i + 1}`));
    // The transport loops back the first one; the other two were lost below us. Everyone else has all three.
    nak.up(net.sent[0]!);
    stack.downEvent(new Event(EventType.STABLE, new Digest().set(A, 3, 3)));
    control(A, { type: T.XMIT_REQ, seqno: 0, missing: [2, 3], sender: A.bytes });
    const resent = net.sent.filter((m) => m.dest === A && m.getHeader<NakAckHeader>(NAKACK2.id)?.type === T.XMIT_RSP);
    expect(resent.map((m) => m.getHeader<NakAckHeader>(NAKACK2.id)!.seqno)).toEqual([2, 3]);
    for (const m of resent) nak.up(m);
    expect(above.delivered).toEqual(['A1', 'A2', 'A3']);
    // Once back, the next round purges them.
    stack.downEvent(new Event(EventType.STABLE, new Digest().set(A, 3, 3)));
    expect(nak.messagesHeld()).toBe(0);
  });

  test('FIRST_SEQNO is taken only from the sender itself: another member whose window starts later cannot make a receiver skip', () => {
    install([A, B, C]);
    multicast(B, 1);
    multicast(B, 4);
    control(C, { type: T.FIRST_SEQNO, seqno: 4, missing: null, sender: B.bytes });
    expect(above.delivered).toEqual(['B1']);
    expect(nak.stats.gapsSkipped).toBe(0);
    // The sender says 2 and 3 are gone everywhere: skipped, counted, and 4 follows.
    control(B, { type: T.FIRST_SEQNO, seqno: 4, missing: null, sender: B.bytes });
    expect(above.delivered).toEqual(['B1', 'B4']);
    expect(nak.stats.gapsSkipped).toBe(1);
    expect(nak.stats.messagesSkipped).toBe(2);
  });

  test('asked for purged seqnos, a member answers FIRST_SEQNO only for its own messages, only to a member of its view, and never past its seqno at that view', async () => {
    install([A, B]);
    for (let i = 0; i < 5; i++) await stack.down(new Message(null, `A${i + 1}`));
    loopBack();
    // B's messages 1-3 delivered here, then purged (stable everywhere).
    for (let s = 1; s <= 3; s++) multicast(B, s);
    stack.downEvent(new Event(EventType.STABLE, new Digest().set(A, 5, 5).set(B, 3, 3)));
    // C (not in our view) asks for our 1-2: no answer at all.
    control(C, { type: T.XMIT_REQ, seqno: 0, missing: [1, 2], sender: A.bytes });
    expect(net.headersTo(C, T.FIRST_SEQNO)).toEqual([]);
    // C joins, with our seqno at 5 when the view was installed; we sent 2 more since.
    install([A, B, C]);
    for (let i = 5; i < 7; i++) await stack.down(new Message(null, `A${i + 1}`));
    loopBack();
    stack.downEvent(new Event(EventType.STABLE, new Digest().set(A, 7, 7)));
    control(C, { type: T.XMIT_REQ, seqno: 0, missing: [1, 2], sender: A.bytes });
    expect(net.headersTo(C, T.FIRST_SEQNO).map((h) => h.seqno)).toEqual([6]);
    // Asked for B's purged messages, we say nothing: only B knows what is gone everywhere.
    control(C, { type: T.XMIT_REQ, seqno: 0, missing: [1], sender: B.bytes });
    expect(net.headersTo(C, T.FIRST_SEQNO)).toHaveLength(1);
  });
});
