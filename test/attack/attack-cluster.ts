// The attacked cluster: 3 `tsgroups member` processes (A, B, C) over a stack file of the test's
// own, an outsider (sniffer and sender) on the same host, and the checks every attack ends with:
// the view has not changed, nothing forged or corrupted was delivered, multicasts and unicasts
// still flow between all members, and memory stayed bounded.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Address } from 'tsgroups';
import {
  agreeOn,
  killAll,
  type McastGroup,
  type MemberLine,
  MemberProcess,
  randomMcastGroup,
  udpMemberEnv,
  waitForAll,
} from '../../packages/cli/src/member-process.js';
import { uniqueCluster } from '../helpers/cluster.js';
import { addr } from './forge.js';
import { Outsider, type Target, target } from './outsider.js';
import { Sniffer } from './sniffer.js';

const cli = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));
const shipped = (name: string): string => readFileSync(fileURLToPath(new URL(`../../stacks/${name}`, import.meta.url)), 'utf8');

/** The members' names. */
export const NAMES = ['A', 'B', 'C'] as const;
export type Name = (typeof NAMES)[number];

/** Every text a forged message carries starts with this: none may ever be delivered. */
export const FORGED = 'FORGED-';

/** The shipped stacks the attacks run against. */
export type Base = 'udp.xml' | 'tcp.xml' | 'tcp-file.xml' | 'udp-secure.xml' | 'tcp-secure.xml';

/** Whether a stack is UDP (with multicast: the sniffer hears the group). */
export const isUdp = (base: Base): boolean => base.startsWith('udp');
/** Whether a stack is a shipped secure stack (its key from TSGROUPS_KEY_FILE). */
const isSecure = (base: Base): boolean => base.endsWith('-secure.xml');

/** A stack file's text: the shipped udp.xml, tcp.xml or tcp-file.xml, with SYM_ENCRYPT right above the transport when `keyFile` is given. */
export function stackText(base: Base, keyFile?: string): string {
  const xml = shipped(base);
  if (keyFile === undefined) return xml;
  const transport = isUdp(base) ? /<UDP\b[\s\S]*?\/>/ : /<TCP\b[\s\S]*?\/>/;
  if (!transport.test(xml)) throw new Error(`no transport element in ${base}`);
  return xml.replace(transport, (t) => `${t}\n  <SYM_ENCRYPT key_file="${keyFile}"/>`);
}

/** Counts of the attack run, for the figures line. */
export interface Tally {
  attacks: string[];
  datagrams: number;
}

/** Memory of each member (bytes). */
export type Memory = Record<Name, { rss: number; heapUsed: number }>;

export interface ClusterOptions {
  base: Base;
  /** SYM_ENCRYPT added right above the transport (the secure stacks have it already). */
  encrypted: boolean;
  /** More variables for the members' stack (e.g. TSGROUPS_CHECKSUM). */
  env?: Record<string, string>;
  /** TCP only: the members' listening ports (A, B, C). */
  tcpPorts?: number[];
}

/**
 * The cluster under attack and the outsider's tools. `close()` kills the members, closes the
 * sockets and removes the temp dir, also after a failed start.
 */
export class AttackCluster {
  readonly cluster = uniqueCluster('attack');
  readonly group: McastGroup = randomMcastGroup();
  readonly dir = mkdtempSync(join(tmpdir(), 'tsgroups-attack-'));
  readonly procs: MemberProcess[] = [];
  readonly tally: Tally = { attacks: [], datagrams: 0 };
  /** Findings of the attacks for the figures line (what was reflected, redirected ...). */
  readonly notes: string[] = [];
  sniffer: Sniffer | null = null;
  outsider: Outsider | null = null;
  /** The view every member agreed on at the start. */
  viewId = '';
  /** The members of the start's view in its order: the coordinator, the next in line, the last. */
  roles: { coord: Name; y: Name; z: Name } = { coord: 'A', y: 'B', z: 'C' };
  /** Per member, the index of the first of its views the checks look at (see waitForOneViewAgain). */
  private readonly viewMarks: number[] = [];
  /** UUIDs by name. */
  readonly uuids = new Map<Name, string>();
  /** Texts the members were asked to send: what they may deliver. */
  readonly sentTexts = new Set<string>();
  /** Per receiver, per sender name: messages it must have delivered so far. */
  readonly expected = new Map<Name, Map<Name, number>>();
  private round = 0;

  constructor(readonly o: ClusterOptions) {}

  /** Starts the sniffer, the outsider and A, B, C (in that order), and waits for one view of the three. */
  async start(timeoutMs = 20_000): Promise<void> {
    const udp = isUdp(this.o.base);
    if (udp) this.sniffer = await Sniffer.listen(this.group);
    this.outsider = await Outsider.open();
    const keyFile = join(this.dir, 'cluster.key');
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const stack = join(this.dir, `attacked-${this.o.base}`);
    writeFileSync(stack, stackText(this.o.base, this.o.encrypted ? keyFile : undefined));
    const env = {
      ...(udp ? udpMemberEnv(this.group, { fdInterval: '1s', fdTimeout: '6s', mergeMin: '1s', mergeMax: '3s' }) : tcpEnv(this.o.tcpPorts!, this.dir)),
      ...(isSecure(this.o.base) ? { TSGROUPS_KEY_FILE: keyFile } : {}),
      ...this.o.env,
    };
    for (let i = 0; i < NAMES.length; i++) {
      const name = NAMES[i]!;
      const memberEnv = udp ? env : { ...env, TSGROUPS_BIND_PORT: String(this.o.tcpPorts![i]) };
      this.procs.push(new MemberProcess({ name, cluster: this.cluster, env: memberEnv, stack, cli }));
      // Over TCP one after another: each joins the view of those before it, not a merge of
      // singletons (merge rounds without multicast are slower, and no part of these tests).
      if (!udp) {
        const started = this.procs.slice();
        const names = NAMES.slice(0, started.length);
        await waitForAll(started, () => started.every((p) => p.address() !== undefined) && agreeOn(started, names), timeoutMs, `one view of ${names}`);
      }
    }
    await waitForAll(this.procs, () => this.procs.every((p) => p.address() !== undefined) && agreeOn(this.procs, [...NAMES]), timeoutMs, 'one view of A,B,C');
    const view = this.procs[0]!.lastView()!;
    this.viewId = view.id;
    // Whoever started first leads: the attacks address the roles (in view order), not the names.
    const [coord, y, z] = view.members as [Name, Name, Name];
    this.roles = { coord, y, z };
    for (const p of this.procs) this.uuids.set(p.name as Name, p.address()!);
    for (const r of NAMES) this.expected.set(r, new Map(NAMES.map((s) => [s, 0])));
  }

  proc(name: Name): MemberProcess {
    return this.procs[NAMES.indexOf(name)]!;
  }
  address(name: Name): Address {
    return addr(this.uuids.get(name)!);
  }
  /** A member's unicast socket as the sniffer heard it (UDP). */
  physical(name: Name): Target {
    const p = this.sniffer?.learn().members.get(this.uuids.get(name)!);
    if (p === undefined) throw new Error(`the sniffer has not heard ${name} yet`);
    return target(p);
  }
  /** The group as a target. */
  groupTarget(): Target {
    return { host: this.group.addr, port: this.group.port };
  }

  /** Sends `datagrams` from the outsider and counts them under `attack`. */
  async attack(attack: string, datagrams: Iterable<Uint8Array>, to: Target, perMs = 20): Promise<number> {
    const n = await this.outsider!.sendAll(datagrams, to, perMs);
    this.tally.attacks.push(attack);
    this.tally.datagrams += n;
    return n;
  }

  /** Asks a member for its stats line. */
  async stats(name: Name): Promise<MemberLine> {
    const p = this.proc(name);
    const mark = p.lines.length;
    p.send('stats');
    return p.waitForLine((l) => l.event === 'stats', 10_000, `${name}'s stats`, mark);
  }

  async memory(): Promise<Memory> {
    const out = {} as Memory;
    for (const n of NAMES) out[n] = (await this.stats(n)).memory!;
    return out;
  }

  /**
   * Every member multicasts `perMember` texts and sends each other member as many unicasts;
   * waits until every member delivered exactly what it was sent so far (nothing more, nothing
   * forged or corrupted).
   */
  async traffic(perMember = 5, timeoutMs = 15_000): Promise<void> {
    const r = ++this.round;
    for (const s of NAMES) {
      const p = this.proc(s);
      for (let i = 0; i < perMember; i++) {
        const m = `r${r}-${s}-m${i}-secret-marker`;
        this.sentTexts.add(m);
        p.send(`say ${m}`);
        for (const rcv of NAMES) this.bump(rcv, s);
        for (const d of NAMES) {
          if (d === s) continue;
          const u = `r${r}-${s}-u${d}${i}-secret-marker`;
          this.sentTexts.add(u);
          p.send(`tell ${d} ${u}`);
          this.bump(d, s);
        }
      }
    }
    const deadline = Date.now() + timeoutMs;
    for (const rcv of NAMES) await this.waitDelivered(rcv, deadline - Date.now(), `round ${r}`);
  }

  /** Waits until `receiver` delivered at least what it is expected to from every member. */
  async waitDelivered(receiver: Name, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const want = this.expected.get(receiver)!;
    while (true) {
      const last = await this.stats(receiver);
      if (NAMES.every((s) => (last.delivered?.[s] ?? 0) >= want.get(s)!)) return;
      if (Date.now() > deadline) {
        throw new Error(`${what}: ${receiver} delivered ${JSON.stringify(last.delivered)}, expected ${JSON.stringify(Object.fromEntries(want))}`);
      }
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  /** `receiver` must deliver `n` more messages from `sender`. */
  expectDelivery(receiver: Name, sender: Name, n: number): void {
    const m = this.expected.get(receiver)!;
    m.set(sender, m.get(sender)! + n);
  }

  private bump(receiver: Name, sender: Name): void {
    this.expectDelivery(receiver, sender, 1);
  }

  /**
   * The checks after each attack: every member still in the start's view (no view change at
   * all: nothing installed, no member added or removed), a round of traffic delivered in full,
   * and nothing delivered that no member sent (forged or corrupted), nor twice.
   */
  async assertIntact(what: string): Promise<void> {
    this.assertSameView(what);
    try {
      await this.traffic();
    } catch (err) {
      this.assertSameView(what); // a view installed meanwhile says more than the lost messages
      throw err;
    }
    this.assertSameView(what);
    await this.assertDeliveredOnlySent(what);
  }

  /**
   * Waits until the three share one view of A, B, C again (after an attack that split them, for
   * a while), and takes it as the view the next checks expect.
   */
  async waitForOneViewAgain(timeoutMs: number, what: string): Promise<void> {
    await waitForAll(this.procs, () => agreeOn(this.procs, [...NAMES]) && this.procs[0]!.lastView()!.id !== this.viewId, timeoutMs, `${what}: one view of A,B,C again`);
    this.viewId = this.procs[0]!.lastView()!.id;
    // The views before this one (a stranger's among them, perhaps) are history now.
    for (let i = 0; i < this.procs.length; i++) this.viewMarks[i] = this.procs[i]!.views().length - 1;
  }

  /** Every member is running and has seen no view but the start's (and none with a stranger). */
  assertSameView(what: string): void {
    for (const [i, p] of this.procs.entries()) {
      const views = p.views().slice(this.viewMarks[i] ?? 0);
      const last = views[views.length - 1]!;
      if (last.id !== this.viewId || views.some((v) => v.members.some((m) => !(NAMES as readonly string[]).includes(m)))) {
        throw new Error(`after ${what}: ${p.name}'s views changed: ${views.map((v) => `${v.id} [${v.members}]`).join(' -> ')}`);
      }
      if (!p.running) throw new Error(`after ${what}: ${p.name} exited: ${p.stderr.slice(-5).join(' | ')}`);
    }
  }

  /** Nothing delivered that no member sent (forged or corrupted), nor more than was sent. */
  async assertDeliveredOnlySent(what: string): Promise<void> {
    for (const n of NAMES) {
      const s = await this.stats(n);
      const bad = s.texts!.filter((t) => !this.sentTexts.has(t.text) || !(NAMES as readonly string[]).includes(t.from));
      if (bad.length > 0) throw new Error(`after ${what}: ${n} delivered what no member sent: ${JSON.stringify(bad.slice(0, 3))}`);
      const want = this.expected.get(n)!;
      for (const sender of Object.keys(s.delivered!)) {
        if (!want.has(sender as Name)) throw new Error(`after ${what}: ${n} delivered messages from ${sender}`);
        if (s.delivered![sender] !== want.get(sender as Name)) {
          throw new Error(`after ${what}: ${n} delivered ${s.delivered![sender]} messages from ${sender}, ${want.get(sender as Name)} were sent`);
        }
      }
    }
  }

  /**
   * Every protocol's counters of refused input (named forged*, *rejected*, *refused*, *limited*,
   * dropped*, malformed*), summed over the members where not zero: what the hardening refused.
   */
  async refusals(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const n of NAMES) {
      const st = (await this.stats(n)).stats!;
      for (const [proto, counters] of Object.entries(st)) {
        for (const [k, v] of Object.entries(counters)) {
          if (v > 0 && /^(forged|dropped|malformed)|rejected|refused|limited/i.test(k) && k !== 'droppedOwnMulticast' && k !== 'droppedNotForMe') {
            out[`${proto}.${k}`] = (out[`${proto}.${k}`] ?? 0) + v;
          }
        }
      }
    }
    return out;
  }

  /** Rejections counted at each member: SYM_ENCRYPT's, and the transport's drops. */
  async rejections(): Promise<{ symEncrypt: number; transport: number; byMember: Record<string, Record<string, number>> }> {
    let symEncrypt = 0;
    let transport = 0;
    const byMember: Record<string, Record<string, number>> = {};
    for (const n of NAMES) {
      const st = (await this.stats(n)).stats!;
      const se = st.SYM_ENCRYPT;
      const auth = st.AUTH;
      const t = st.UDP ?? st.TCP ?? {};
      const s = se ? se.authFailures! + se.unknownKeyVersion! + se.malformed! + se.unencrypted! + (se.replayed ?? 0) : 0;
      // Datagrams the transport dropped (not those for another member), and TCP frames it refused.
      const d = (t.dropped ?? 0) - (t.droppedNotForMe ?? 0) + (t.badFrames ?? 0);
      symEncrypt += s;
      transport += d;
      byMember[n] = { ...(se ? { authFailures: se.authFailures!, unknownKeyVersion: se.unknownKeyVersion!, malformed: se.malformed!, unencrypted: se.unencrypted!, replayed: se.replayed ?? 0 } : {}), transportDropped: d };
      // TCP: connections the transport closed for bad input (the frames behind are never read).
      if (auth) Object.assign(byMember[n]!, { authRefused: auth.refused ?? 0 });
      if (st.TCP) Object.assign(byMember[n]!, { badFrames: t.badFrames ?? 0, duplicateConnections: t.duplicateConnections ?? 0, connectionsClosed: t.connectionsClosed ?? 0 });
    }
    return { symEncrypt, transport, byMember };
  }

  async close(): Promise<void> {
    await killAll(this.procs);
    this.sniffer?.close();
    this.outsider?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Environment for members over tcp.xml (or tcp-file.xml) listening on `ports` of 127.0.0.1, each listing all three (FILE_PING: a folder in `dir`). */
function tcpEnv(ports: number[], dir: string): Record<string, string> {
  return {
    TSGROUPS_FILE_PING_LOCATION: join(dir, 'file-ping'),
    TSGROUPS_FILE_PING_WRITE_INTERVAL: '1s',
    TSGROUPS_BIND_ADDR: '127.0.0.1',
    TSGROUPS_PORT_RANGE: '0',
    TSGROUPS_INITIAL_HOSTS: ports.map((p) => `127.0.0.1[${p}]`).join(','),
    TSGROUPS_INITIAL_PORT_RANGE: '0',
    TSGROUPS_FD_INTERVAL: '1s',
    TSGROUPS_FD_TIMEOUT: '6s',
    TSGROUPS_MERGE_MIN_INTERVAL: '1s',
    TSGROUPS_MERGE_MAX_INTERVAL: '3s',
  };
}

/** MiB, one decimal. */
export const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
