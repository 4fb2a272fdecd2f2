// The outsider's attacks (issue 12), each a step against an AttackCluster that ends with the
// cluster's checks. The test files pick the cases each stack must survive; `waitsFor` names
// the hardening a case needs on the default stack (cases that do not pass yet are listed in
// attack-default.cases.ts, not run).
import { Address, decodeDatagram } from 'tsgroups';
import { type AttackCluster, FORGED, mib } from './attack-cluster.js';
import { datagram, gmsJoinReq, gmsLeaveReq, gmsView, heartbeat, merge3Info, nakackData, pingRequest, unicastData } from './forge.js';
import { bitFlips, Outsider, replay } from './outsider.js';

export interface AttackCase {
  name: string;
  run(c: AttackCluster): Promise<void>;
}

/** The number in a printed view id `[creator|n]`. */
const viewNumber = (id: string): number => Number(/\|(\d+)\]$/.exec(id)?.[1] ?? NaN);

/** The members' own multicast datagrams the sniffer captured (not the outsider's; at most `max`, the latest). */
function captured(c: AttackCluster, max = 2000): Uint8Array[] {
  const outsider = c.outsider!.address();
  const h = (c.sniffer?.heard ?? []).filter((x) => x.from !== outsider);
  return h.slice(-max).map((x) => x.data);
}

const times = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

/** A VIEW claiming to come from the coordinator: [coord, y, phantom] (z dropped), the next view id. */
export const forgedViewSpoofingCoord: AttackCase = {
  name: 'forged VIEW spoofing the coordinator (drops a member, adds a phantom)',
  async run(c) {
    const { coord, y } = c.roles;
    const a = c.address(coord);
    const view = gmsView(null, a, viewNumber(c.viewId) + 1, [a, c.address(y), Address.random()]);
    await c.attack(this.name, [datagram({ cluster: c.cluster, sender: a, dest: null }, view)], c.groupTarget());
    await c.assertIntact(this.name);
  },
};

/**
 * The same forged VIEW in the coordinator's name, on a stack that cannot tell it from the
 * coordinator's own (no encryption): it may be taken for a while, but is undone: the three
 * share one view again and nothing forged is delivered.
 */
export const forgedViewSpoofingCoordUndone: AttackCase = {
  name: 'forged VIEW spoofing the coordinator: undone, one view of the three again',
  async run(c) {
    const { coord, y } = c.roles;
    const a = c.address(coord);
    const view = gmsView(null, a, viewNumber(c.viewId) + 1, [a, c.address(y), Address.random()]);
    await c.attack(this.name, [datagram({ cluster: c.cluster, sender: a, dest: null }, view)], c.groupTarget());
    await c.waitForOneViewAgain(15_000, this.name);
    await c.assertIntact(this.name);
  },
};

/** A VIEW from `who` (y: next in line, z: the last member) that makes it coordinator of [who, other, phantom]. */
function forgedViewFrom(who: 'y' | 'z'): AttackCase {
  return {
    name: `forged VIEW from ${who === 'y' ? 'the next in line' : 'the last member'}, dropping the coordinator`,
    async run(c) {
      const me = c.address(c.roles[who]);
      const other = c.address(c.roles[who === 'y' ? 'z' : 'y']);
      const view = gmsView(null, me, viewNumber(c.viewId) + 5, [me, other, Address.random()]);
      await c.attack(this.name, [datagram({ cluster: c.cluster, sender: me, dest: null }, view)], c.groupTarget());
      await c.assertIntact(this.name);
    },
  };
}
export const forgedViewFromMember = forgedViewFrom('z');
export const forgedViewTakeover = forgedViewFrom('y');

/** LEAVE_REQ for member y to the coordinator, claiming to come from y (the split "for good"). */
export const forgedLeaveSpoofingLeaver: AttackCase = {
  name: 'forged LEAVE_REQ for a member spoofing it',
  async run(c) {
    const a = c.address(c.roles.coord);
    const b = c.address(c.roles.y);
    // Sent to the group with the coordinator as the envelope's destination: it takes it, and no member learns a
    // physical address from it (that is another attack, below).
    await c.attack(this.name, [datagram({ cluster: c.cluster, sender: b, dest: a }, gmsLeaveReq(a, b))], c.groupTarget());
    await c.assertIntact(this.name);
  },
};

/**
 * LEAVE_REQ for member y spoofing y (without authentication nobody can tell it from y's own):
 * y may be dropped, but not for good: the members merge back into one view of the three.
 */
export const forgedLeaveHeals: AttackCase = {
  name: 'forged LEAVE_REQ for a member spoofing it: merged back, not split for good',
  async run(c) {
    const a = c.address(c.roles.coord);
    const b = c.address(c.roles.y);
    await c.attack(this.name, [datagram({ cluster: c.cluster, sender: b, dest: a }, gmsLeaveReq(a, b))], c.groupTarget());
    await c.waitForOneViewAgain(30_000, this.name);
    await c.assertIntact(this.name);
  },
};

/** LEAVE_REQ for member y to the coordinator, from member z. */
export const forgedLeaveFromOther: AttackCase = {
  name: 'forged LEAVE_REQ for a member from another member',
  async run(c) {
    const a = c.address(c.roles.coord);
    await c.attack(this.name, [datagram({ cluster: c.cluster, sender: c.address(c.roles.z), dest: a }, gmsLeaveReq(a, c.address(c.roles.y)))], c.groupTarget());
    await c.assertIntact(this.name);
  },
};

/** JOIN_REQ of a phantom to the coordinator. */
export const phantomJoin: AttackCase = {
  name: 'phantom JOIN_REQ',
  async run(c) {
    const a = c.address(c.roles.coord);
    const ph = Address.random();
    await c.attack(this.name, [datagram({ cluster: c.cluster, sender: ph, dest: a }, gmsJoinReq(a, ph, 'phantom'))], c.groupTarget());
    await c.assertIntact(this.name);
  },
};

/** Multicasts claiming to be member y's next NAKACK2 seqnos (the sniffed highest + 1 .. + 50, or 1 .. 300 when nothing is in clear). */
export const stolenSeqnos: AttackCase = {
  name: "a member's next NAKACK2 seqnos taken by forged multicasts",
  async run(c) {
    const b = c.address(c.roles.y);
    const seen = c.sniffer?.learn().seqnos.get(b.toUUIDString());
    const first = seen === undefined ? 1 : seen + 1;
    const n = seen === undefined ? 300 : 50;
    const env = { cluster: c.cluster, sender: b, dest: null };
    await c.attack(this.name, times(n, (i) => datagram(env, nakackData(first + i, `${FORGED}seqno-${first + i}`))), c.groupTarget());
    await c.assertIntact(this.name);
  },
};

/** A UNICAST3 DATA to member y claiming to come from the coordinator on a new connection id. */
export const unicastConnReset: AttackCase = {
  name: 'forged UNICAST3 message with a new conn id',
  async run(c) {
    const b = c.address(c.roles.y);
    const env = { cluster: c.cluster, sender: c.address(c.roles.coord), dest: b };
    const d = datagram(env, unicastData(b, 0x7fff0000 + Math.floor(Math.random() * 0xffff), 1, `${FORGED}conn-reset`));
    await c.attack(this.name, [d], c.groupTarget());
    await c.assertIntact(this.name);
  },
};

/** Discovery requests from fake members claiming a victim's address: the victim must not get the answers. */
export const pingReflection: AttackCase = {
  name: 'PING reflection onto a victim',
  async run(c) {
    const victim = await Outsider.open();
    try {
      const n = 300;
      const ds = times(n, () => datagram({ cluster: c.cluster, sender: Address.random(), dest: null }, pingRequest(Address.random(), 'x', victim.address())));
      // The fake member is the request's own address: forge both the same.
      const same = times(n, () => {
        const fake = Address.random();
        return datagram({ cluster: c.cluster, sender: fake, dest: null }, pingRequest(fake, 'x', victim.address()));
      });
      await c.attack(this.name, [...ds, ...same], c.groupTarget(), 5);
      await c.assertIntact(this.name);
      if (victim.received > 3) throw new Error(`${victim.received} datagrams reflected onto the victim for ${2 * n} forged requests`);
      c.notes.push(`reflection: ${victim.received} datagrams at the victim for ${2 * n} requests`);
    } finally {
      victim.close();
    }
  },
};

/** Discovery requests with 60 KB names from 3000 fake members: memory stays bounded. */
export const nameBloat: AttackCase = {
  name: '60 KB names in PING requests',
  async run(c) {
    const before = await c.memory();
    const name = 'n'.repeat(60_000);
    const gen = function* () {
      for (let i = 0; i < 3000; i++) {
        const fake = Address.random();
        yield datagram({ cluster: c.cluster, sender: fake, dest: null }, pingRequest(fake, `${i}${name}`, '127.0.0.1:9'));
      }
    };
    await c.attack(this.name, gen(), c.groupTarget(), 2);
    await c.assertIntact(this.name);
    const after = await c.memory();
    for (const n of Object.keys(before) as (keyof typeof before)[]) {
      const grew = after[n].heapUsed - before[n].heapUsed;
      if (grew > 64 * 1048576) throw new Error(`${n}'s heap grew by ${mib(grew)} MiB with 60 KB names (${mib(before[n].heapUsed)} -> ${mib(after[n].heapUsed)})`);
    }
  },
};

/** A MERGE3 INFO from a fake coordinator at the outsider's address. */
export const forgedMergeInfo: AttackCase = {
  name: 'forged MERGE3 INFO from a fake coordinator',
  async run(c) {
    const fake = Address.random();
    const ds = times(5, () => datagram({ cluster: c.cluster, sender: fake, dest: null }, merge3Info(fake, 1, 'fake-coord', c.outsider!.address())));
    await c.attack(this.name, ds, c.groupTarget());
    await c.assertIntact(this.name);
  },
};

/**
 * The outsider claims to be B in datagrams sent to A's unicast port (every 10 ms) while A sends
 * B unicasts: B must get them all while the poisoning goes on, and not one datagram A meant for
 * B may reach the outsider (A must not learn B's address from an unauthenticated datagram).
 */
export const physicalPoisoning: AttackCase = {
  name: "B's physical address poisoned at A",
  async run(c) {
    const a = c.address('A');
    const junk = datagram({ cluster: c.cluster, sender: c.address('B'), dest: a }, heartbeat());
    const t = c.physical('A');
    const bUuid = c.uuids.get('B')!;
    c.outsider!.receivedData.length = 0;
    let poisoning = true;
    let sent = 0;
    const poison = (async () => {
      while (poisoning) {
        await c.outsider!.send(junk, t);
        sent++;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 300));
      const texts = times(10, (i) => `poison-${i}-secret-marker`);
      for (const x of texts) {
        c.sentTexts.add(x);
        c.proc('A').send(`tell B ${x}`);
      }
      c.expectDelivery('B', 'A', texts.length);
      await c.waitDelivered('B', 6000, `${this.name}: A's unicasts to B while poisoned`);
      await new Promise((r) => setTimeout(r, 500)); // A's acks and retransmissions, still poisoned
    } finally {
      poisoning = false;
      await poison;
      c.tally.attacks.push(this.name);
      c.tally.datagrams += sent;
    }
    // Only datagrams addressed to B count (the outsider's address may be known for other reasons).
    const redirected = c.outsider!.receivedData.filter((d) => {
      const dd = decodeDatagram(d, null);
      return typeof dd !== 'string' && dd.batch.dest?.toUUIDString() === bUuid;
    }).length;
    c.notes.push(`poisoning: ${sent} datagrams claiming B, ${redirected} of A's datagrams for B reached the outsider`);
    if (redirected > 0) throw new Error(`${redirected} datagrams A meant for B went to the outsider that claimed to be B`);
    await c.assertIntact(this.name);
  },
};

/** Every captured multicast datagram sent again, twice. */
export const replayCaptured: AttackCase = {
  name: 'replay of captured datagrams',
  async run(c) {
    const cap = captured(c);
    if (cap.length === 0) throw new Error('nothing captured to replay');
    await c.attack(this.name, replay(cap, 2), c.groupTarget(), 10);
    await c.assertIntact(this.name);
  },
};

/** 50,000 copies of captured datagrams with 1-3 bits flipped (a corrupting path, no attacker). */
export const bitFlipped: AttackCase = {
  name: '50,000 bit-flipped copies of captured datagrams',
  async run(c) {
    const cap = captured(c);
    if (cap.length === 0) throw new Error('nothing captured to flip');
    await c.attack(this.name, bitFlips(cap, 50_000, 12), c.groupTarget(), 15);
    await c.assertIntact(this.name);
  },
};

/** 5000 discovery requests from as many fake members. */
export const pingFlood: AttackCase = {
  name: 'flood of forged PING requests',
  async run(c) {
    const me = c.outsider!.address();
    const gen = function* () {
      for (let i = 0; i < 5000; i++) {
        const fake = Address.random();
        yield datagram({ cluster: c.cluster, sender: fake, dest: null }, pingRequest(fake, `flood-${i}`, me));
      }
    };
    await c.attack(this.name, gen(), c.groupTarget(), 10);
    await c.assertIntact(this.name);
  },
};

/** 2000 JOIN_REQs from as many fake members to the coordinator. */
export const joinFlood: AttackCase = {
  name: 'flood of forged JOIN_REQs',
  async run(c) {
    const a = c.address(c.roles.coord);
    const gen = function* () {
      for (let i = 0; i < 2000; i++) {
        const fake = Address.random();
        yield datagram({ cluster: c.cluster, sender: fake, dest: a }, gmsJoinReq(a, fake, `joiner-${i}`));
      }
    };
    await c.attack(this.name, gen(), c.groupTarget(), 10);
    await c.assertIntact(this.name);
  },
};
