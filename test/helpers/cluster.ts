import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Address, Channel, type Message, type Protocol, ProtocolStack, type View } from 'tsgroups';
import { DISCARD, GMS, SHARED_LOOPBACK, SHARED_LOOPBACK_PING } from 'tsgroups';
import { waitUntil } from './wait.js';

export { waitUntil };

/** The path of a stack shipped in stacks/. */
export function stackPath(name: string): string {
  return fileURLToPath(new URL(`../../stacks/${name}`, import.meta.url));
}

export function stackXml(name: string): string {
  return readFileSync(stackPath(name), 'utf8');
}

let clusterSeq = 0;
/** A cluster name no other test (or parallel jest worker) uses. */
export function uniqueCluster(prefix = 'test'): string {
  return `${prefix}-${process.pid}-${++clusterSeq}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Loopback protocols, bottom first: SHARED_LOOPBACK, SHARED_LOOPBACK_PING, [extra...], GMS. */
export function loopbackStack(extra: () => Protocol[] = () => []): ProtocolStack {
  const gms = new GMS();
  gms.joinRetryDelay = 20;
  gms.viewAckCollectionTimeout = 500;
  return new ProtocolStack([new SHARED_LOOPBACK(), new SHARED_LOOPBACK_PING(), ...extra(), gms]);
}

/** Records what a channel receives. */
export class Recorder {
  readonly messages: Message[] = [];
  readonly views: View[] = [];
  constructor(readonly channel: Channel) {
    channel.on('message', (m) => this.messages.push(m));
    channel.on('view', (v) => this.views.push(v));
  }
  objects<T = unknown>(): T[] {
    return this.messages.map((m) => m.getObject<T>());
  }
}

export interface Member {
  channel: Channel;
  rec: Recorder;
}

/**
 * Connects `n` channels named A, B, C ... to one new cluster, one after another, and waits
 * until all have the same view.
 */
export async function startCluster(
  n: number,
  makeStack: () => ProtocolStack | string = () => loopbackStack(),
  cluster = uniqueCluster(),
): Promise<Member[]> {
  const members: Member[] = [];
  for (let i = 0; i < n; i++) {
    const channel = new Channel(makeStack()).setName(String.fromCharCode(65 + i));
    const rec = new Recorder(channel);
    members.push({ channel, rec });
    await channel.connect(cluster);
  }
  await waitForSameView(members.map((m) => m.channel), 5000);
  return members;
}

/** Waits until every channel has the same view id and members, listing all of them. */
export async function waitForSameView(channels: Channel[], timeoutMs: number): Promise<View> {
  await waitUntil(
    () => {
      const views = channels.map((c) => c.getView());
      const first = views[0];
      if (!first || first.size() !== channels.length) return false;
      return views.every((v) => v !== null && v.viewId.equals(first.viewId) && v.sameMembers(first));
    },
    timeoutMs,
    'the same view on all channels',
    () => channels.map((c) => `${c.getName()}: ${c.getView()}`).join('; '),
  );
  return channels[0]!.getView()!;
}

/** Closes every channel; injected faults are lifted first so that members leave cleanly. */
export async function closeAll(channels: Iterable<Channel>): Promise<void> {
  const list = [...channels];
  for (const c of list) {
    const d = c.isOpen() ? c.getProtocolStack().findProtocol(DISCARD) : undefined;
    d?.heal().setUpDiscardRate(0).setDownDiscardRate(0);
  }
  await Promise.all(list.map((c) => c.close()));
}

export function discardOf(ch: Channel): DISCARD {
  const d = ch.getProtocolStack().findProtocol(DISCARD);
  if (!d) throw new Error(`${ch.getName()} has no DISCARD`);
  return d;
}

/**
 * Splits the channels into `sides` with DISCARD (each member drops what comes from the other
 * sides) and waits until each side's members have a view of exactly their side.
 */
export async function partition(sides: Channel[][], timeoutMs: number): Promise<void> {
  for (const side of sides) {
    const others = sides.filter((s) => s !== side).flat().map((ch) => ch.getAddress()!);
    for (const ch of side) discardOf(ch).isolateFrom(...others);
  }
  const all = sides.flat();
  await waitUntil(() => sides.every((side) => side.every((ch) => ch.getView()?.size() === side.length)), timeoutMs, 'one view per side', () =>
    all.map((ch) => `${ch.getName()}: ${ch.getView()}`).join('; '),
  );
  for (const side of sides) await waitForSameView(side, timeoutMs);
}

/** Records a channel's suspicions and views (with when each view was installed). */
export class Watch {
  readonly suspects: Address[] = [];
  readonly views: { view: View; at: number }[] = [];
  constructor(ch: Channel) {
    ch.on('suspect', (a) => this.suspects.push(a));
    ch.on('view', (view) => this.views.push({ view, at: performance.now() }));
  }
  /** When the first view without `member` was installed. */
  removedAt(member: Address): number | undefined {
    return this.views.find((v) => !v.view.containsMember(member))?.at;
  }
}
