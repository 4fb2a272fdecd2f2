// AUTH (issue 12, part 3): joins and merges are admitted only with a valid token, an HMAC under
// the cluster's secret or a certificate from the cluster's CA. A refused joiner's connect()
// rejects at once with ERR_AUTH_REFUSED, the view stays as it was, the coordinator counts the
// refusal; a captured join request replayed is refused by the nonce cache and, once stale, by its
// timestamp; a subgroup with another secret is left out of merges; configuration errors name
// the attribute.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AUTH,
  type AuthHeader,
  AuthKind,
  Channel,
  ConfigError,
  HmacToken,
  type Message,
  MergeView,
  parseKeyRing,
  Protocol,
  ProtocolId,
  ReplayCache,
  SecurityError,
  signedData,
  type View,
} from 'tsgroups';
import { closeAll, discardOf, partition, Recorder, uniqueCluster, waitForSameView, waitUntil } from './helpers/cluster.js';
import { randomGroup, udpStackText } from './udp/udp-helpers.js';

const JOIN_REQ = 1; // GmsHeader.Type.JOIN_REQ
/** A refused join's connect() must end well before one join_timeout (3 s) would have passed. */
const PROMPT_MS = 2500;

const dir = mkdtempSync(join(tmpdir(), 'tsgroups-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileSeq = 0;
function writeTemp(name: string, text: string): string {
  const path = join(dir, `${++fileSeq}-${name}`);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}
const secretFile = (secret: string): string => writeTemp('secret.txt', `${secret}\n`);
const newSecret = (): string => randomBytes(32).toString('hex');

/** The in-process stack with DISCARD and MERGE3 (for partitions), AUTH (if given) right below GMS. */
function authXml(auth: string | null): string {
  return `<config>
  <SHARED_LOOPBACK/>
  <SHARED_LOOPBACK_PING/>
  <DISCARD/>
  <MERGE3 min_interval="200ms" max_interval="500ms"/>
  <FD_ALL3 interval="100ms" timeout="1s"/>
  <VERIFY_SUSPECT2 timeout="200ms"/>
  <NAKACK2 xmit_interval="100ms"/>
  <UNICAST3 xmit_interval="100ms"/>
  <STABLE desired_avg_gossip="1s" max_bytes="1M"/>
  ${auth === null ? '' : `<AUTH ${auth}/>`}
  <GMS join_timeout="3s" max_join_attempts="3" join_retry_delay="20ms" view_ack_collection_timeout="500ms" merge_timeout="1s" leave_timeout="300ms"/>
</config>`;
}

const authOf = (ch: Channel): AUTH => ch.getProtocolStack().findProtocol(AUTH)!;

const channels: Channel[] = [];
afterEach(async () => {
  await closeAll(channels.splice(0));
});

function channel(xml: string, name: string): Channel {
  const ch = Channel.fromXml(xml, `${name}.xml`).setName(name);
  channels.push(ch);
  return ch;
}

/** Connects one channel per name, in order, after `first` (already connected, if any), and waits for their common view. */
async function cluster(cluster: string, names: string[], xmlOf: (name: string) => string, first: Channel[] = []): Promise<Channel[]> {
  const chs = [...first];
  for (const name of names) {
    const ch = channel(xmlOf(name), name);
    await ch.connect(cluster);
    chs.push(ch);
  }
  await waitForSameView(chs, 5000);
  return chs;
}

/** `ch`'s connect() rejects with ERR_AUTH_REFUSED saying `reason`, promptly (an answer, not a timeout). */
async function expectRefused(ch: Channel, clusterName: string, reason: RegExp): Promise<void> {
  const started = performance.now();
  const err = await ch.connect(clusterName).then(
    () => null,
    (e: unknown) => e,
  );
  const took = performance.now() - started;
  expect(err).toBeInstanceOf(SecurityError);
  expect((err as SecurityError).code).toBe('ERR_AUTH_REFUSED');
  expect((err as Error).message).toMatch(reason);
  expect(took).toBeLessThan(PROMPT_MS);
  expect(ch.isConnected()).toBe(false);
}

/** Every channel still has view `view` (same id, same members). */
function expectView(chs: Channel[], view: View): void {
  for (const ch of chs) {
    expect(ch.getView()!.viewId.equals(view.viewId)).toBe(true);
    expect(ch.getView()!.sameMembers(view)).toBe(true);
  }
}

/**
 * Below AUTH: keeps the JOIN_REQs that come up (as AUTH receives them) and can pass one up again;
 * can rewrite the AUTH header of the JOIN_REQs going down (a joiner sending someone else's token).
 */
class Tap extends Protocol {
  static override readonly protocolName = 'AUTH_TEST_TAP';
  readonly joinRequests: Message[] = [];
  rewrite: ((msg: Message) => AuthHeader) | null = null;

  override down(msg: Message) {
    if (this.rewrite !== null && msg.getHeader<{ type?: number }>(ProtocolId.GMS)?.type === JOIN_REQ) msg.putHeader(ProtocolId.AUTH, this.rewrite(msg));
    return this.downProt.down(msg);
  }

  override up(msg: Message): void {
    if (msg.getHeader<{ type?: number }>(ProtocolId.GMS)?.type === JOIN_REQ) this.joinRequests.push(msg.copy());
    this.upProt.up(msg);
  }

  /** Passes `msg` up again, as if it had just arrived from below. */
  replay(msg: Message): void {
    this.upProt.up(msg.copy());
  }
}

async function withTap(ch: Channel): Promise<Tap> {
  const tap = new Tap();
  await ch.getProtocolStack().insertProtocol(tap, 'below', AUTH);
  return tap;
}

describe('HMAC token', () => {
  test('with the right secret, 3 members form a view; every join request carried a token the coordinator accepted', async () => {
    const xml = authXml(`auth_class="hmac" secret_file="${secretFile(newSecret())}"`);
    const chs = await cluster(uniqueCluster('auth'), ['A', 'B', 'C'], () => xml);
    const [a, b, c] = chs.map(authOf) as [AUTH, AUTH, AUTH];
    expect(a.stats.accepted).toBeGreaterThanOrEqual(2);
    expect(b.stats.tokensSent).toBeGreaterThanOrEqual(1);
    expect(c.stats.tokensSent).toBeGreaterThanOrEqual(1);
    for (const p of [a, b, c]) expect(p.stats.refused + p.stats.mergeRequestsRefused + p.stats.mergeResponsesRefused).toBe(0);
  });

  test('a joiner with another secret, or without AUTH, is refused at once: connect rejects with ERR_AUTH_REFUSED, the view stays, the refusal is counted', async () => {
    const name = uniqueCluster('auth-refused');
    const good = authXml(`auth_class="hmac" secret_file="${secretFile(newSecret())}"`);
    const chs = await cluster(name, ['A', 'B', 'C'], () => good);
    const view = chs[0]!.getView()!;
    const coord = authOf(chs[0]!);

    await expectRefused(channel(authXml(`auth_class="hmac" secret_file="${secretFile(newSecret())}"`), 'Wrong'), name, /invalid token: the HMAC token does not match/);
    expect(coord.stats.invalid).toBe(1);
    await expectRefused(channel(authXml(null), 'NoAuth'), name, /no AUTH token/);
    expect(coord.stats.noToken).toBe(1);
    expect(coord.stats.refused).toBe(2);
    expect(coord.stats.refusalsAnswered).toBe(2);
    expectView(chs, view);
  });

  test('secrets roll as keys do: members listing the old and the new secret admit a joiner that has only the new one', async () => {
    const name = uniqueCluster('auth-roll');
    const [oldSecret, newOne] = [newSecret(), newSecret()];
    const xml = authXml(`auth_class="hmac" secret_file="${secretFile(`1:${oldSecret}\n`)}"`);
    const chs = await cluster(name, ['A', 'B'], () => xml);
    // Step 1: every member accepts the new secret too (still proving with the old one).
    const both = secretFile(`1:${oldSecret}\n2:${newOne}\n`);
    for (const ch of chs) {
      authOf(ch).setValue('secret_file', both);
      authOf(ch).reloadToken();
    }
    const c = channel(authXml(`auth_class="hmac" secret_file="${secretFile(`2:${newOne}\n`)}"`), 'C');
    await c.connect(name);
    await waitForSameView([...chs, c], 5000);
    expect(authOf(chs[0]!).stats.refused).toBe(0);
  });

  test('a captured JOIN_REQ replayed below AUTH is refused by the nonce cache, and once stale by its timestamp; nobody is added', async () => {
    const name = uniqueCluster('auth-replay');
    const secret = newSecret();
    const xml = authXml(`auth_class="hmac" secret_file="${secretFile(secret)}" max_clock_skew="3s"`);
    const a = channel(xml, 'A');
    const tap = await withTap(a);
    await a.connect(name);
    const abc = await cluster(name, ['B', 'C'], () => xml, [a]);
    const d = channel(xml, 'D');
    await d.connect(name);
    await waitForSameView([...abc, d], 5000);
    const dAddr = d.getAddress()!;
    const captured = tap.joinRequests.find((m) => m.src === dAddr)!;
    expect(captured).toBeDefined();
    const auth = authOf(a);
    const before = auth.stats.accepted;

    // At once: the nonce was seen.
    tap.replay(captured);
    expect(auth.stats.replayed).toBe(1);
    // D leaves; its request replayed now would add it back as a phantom member without AUTH.
    await d.disconnect();
    await waitForSameView(abc, 5000);
    const view = a.getView()!;
    tap.replay(captured);
    expect(auth.stats.replayed + auth.stats.stale).toBe(2);
    // Once the token's timestamp is more than max_clock_skew old, it is stale, whatever the cache holds.
    const ts = captured.getHeader<AuthHeader>(ProtocolId.AUTH)!.timestamp;
    await waitUntil(() => Date.now() > ts + 3000 + 10, 10_000, 'the token to go stale');
    const stale = auth.stats.stale;
    tap.replay(captured);
    expect(auth.stats.stale).toBe(stale + 1);
    await new Promise<void>((r) => setImmediate(r)); // a turn for anything GMS might have queued
    expect(auth.stats.accepted).toBe(before);
    expect(auth.stats.refused).toBe(3);
    expect(auth.stats.refusalsAnswered).toBeLessThanOrEqual(1); // replays get no answer (only a stale one may)
    expectView(abc, view);
  });

  test('a joiner sending a captured token, or a stale one made with the right secret, is refused at once', async () => {
    const name = uniqueCluster('auth-token-reuse');
    const secret = newSecret();
    const xml = authXml(`auth_class="hmac" secret_file="${secretFile(secret)}"`);
    const a = channel(xml, 'A');
    const tap = await withTap(a);
    await a.connect(name);
    const abc = await cluster(name, ['B', 'C'], () => xml, [a]);
    const view = a.getView()!;
    const stolen = tap.joinRequests.at(-1)!.getHeader<AuthHeader>(ProtocolId.AUTH)!;

    // E sends C's token: it proves C's address, not E's.
    const e = channel(xml, 'E');
    (await withTap(e)).rewrite = () => stolen;
    await expectRefused(e, name, /invalid token/);

    // F signs its own address with the right secret, but ten minutes ago.
    const f = channel(xml, 'F');
    const fTap = await withTap(f);
    const token = new HmacToken(parseKeyRing(secret, 'the test secret'));
    fTap.rewrite = () => {
      const timestamp = Date.now() - 10 * 60_000;
      const nonce = randomBytes(16);
      const { proof, cert } = token.prove(signedData(AuthKind.HMAC, JOIN_REQ, fTap.localAddress!.bytes, timestamp, nonce, name));
      return { kind: AuthKind.HMAC, timestamp, nonce, proof, cert };
    };
    await expectRefused(f, name, /max_clock_skew/);

    const auth = authOf(a);
    expect(auth.stats.invalid).toBe(1);
    expect(auth.stats.stale).toBe(1);
    expect(auth.stats.refused).toBe(2);
    expectView(abc, view);
  });
});

test('a flood of forged join requests is refused and counted; at most 20 answers a second, no nonce kept, the view unchanged', async () => {
  const name = uniqueCluster('auth-flood');
  const xml = authXml(`auth_class="hmac" secret_file="${secretFile(newSecret())}"`);
  const a = channel(xml, 'A');
  const tap = await withTap(a);
  await a.connect(name);
  const chs = await cluster(name, ['B'], () => xml, [a]);
  const view = a.getView()!;
  const model = tap.joinRequests.at(-1)!;
  const auth = authOf(a);
  const forged = 2000;
  const started = Date.now();
  for (let i = 0; i < forged; i++) {
    const m = model.copy();
    // Fresh timestamps and nonces, proofs of the right length but made without the secret.
    m.putHeader(ProtocolId.AUTH, { kind: AuthKind.HMAC, timestamp: Date.now(), nonce: randomBytes(16), proof: randomBytes(32), cert: new Uint8Array(0) } satisfies AuthHeader);
    tap.replay(m);
  }
  const seconds = Math.floor(Date.now() / 1000) - Math.floor(started / 1000) + 1;
  expect(auth.stats.refused).toBe(forged);
  expect(auth.stats.invalid).toBe(forged);
  expect(auth.stats.refusalsAnswered).toBeLessThanOrEqual(20 * seconds);
  expect(auth.stats.refusalsAnswered + auth.stats.refusalsUnanswered).toBe(forged);
  expect(auth.getStats().replayCacheEntries).toBe(1); // B's own join only
  expectView(chs, view);
});

test('over UDP on 127.0.0.1 (udp.xml with AUTH below GMS): 3 members join, a joiner with another secret is refused at once', async () => {
  const group = randomGroup();
  const withAuth = (file: string) => udpStackText(group).replace(/(\s*)<GMS\b/, `$1<AUTH secret_file="${file}"/>$1<GMS`);
  const good = withAuth(secretFile(newSecret()));
  expect(good).toMatch(/<AUTH [^>]*\/>\s*<GMS/);
  const name = uniqueCluster('auth-udp');
  const chs = await cluster(name, ['A', 'B', 'C'], () => good);
  const view = chs[0]!.getView()!;
  await expectRefused(channel(withAuth(secretFile(newSecret())), 'D'), name, /invalid token/);
  expect(authOf(chs[0]!).stats.refused).toBe(1);
  expectView(chs, view);
});

test('with SYM_ENCRYPT above the transport (as a secure stack has them): the key lets a joiner talk, the secret decides whether it joins', async () => {
  const key = writeTemp('key.txt', `${randomBytes(32).toString('hex')}\n`);
  const xml = (secret: string) => authXml(`secret_file="${secret}"`).replace('<SHARED_LOOPBACK/>', `<SHARED_LOOPBACK/>\n  <SYM_ENCRYPT key_file="${key}"/>`);
  const name = uniqueCluster('auth-sym');
  const good = xml(secretFile(newSecret()));
  const chs = await cluster(name, ['A', 'B', 'C'], () => good);
  const view = chs[0]!.getView()!;
  await expectRefused(channel(xml(secretFile(newSecret())), 'D'), name, /invalid token/);
  expect(authOf(chs[0]!).stats.refused).toBe(1);
  expectView(chs, view);
});

describe('X.509 token', () => {
  let pki: Record<string, { cert: string; key: string }>;
  let ca: string;
  let otherCa: string;

  beforeAll(() => {
    // node:crypto makes keys but not certificates: openssl makes a CA, another CA and the members' certificates.
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      throw new Error('the X.509 tests need openssl (scripts/ensure-test-tools.mjs installs it on Debian as root)');
    }
    const at = mkdtempSync(join(dir, 'pki-'));
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: at, stdio: 'pipe' });
    const newCa = (name: string) => {
      run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
      return join(at, `${name}.pem`);
    };
    ca = newCa('cluster-ca');
    otherCa = newCa('other-ca');
    let serial = 1;
    const member = (file: string, cn: string, caName: string, days: string) => {
      run('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', `/CN=${cn}/O=tsgroups tests`);
      run('x509', '-req', '-in', `${file}.csr`, '-CA', `${caName}.pem`, '-CAkey', `${caName}.key`, '-set_serial', String(++serial), '-days', days, '-out', `${file}.pem`);
      return { cert: join(at, `${file}.pem`), key: join(at, `${file}.key`) };
    };
    pki = {
      a: member('a', 'member-a', 'cluster-ca', '2'),
      b: member('b', 'member-b', 'cluster-ca', '2'),
      c: member('c', 'member-c', 'cluster-ca', '2'),
      d: member('d', 'member-d', 'cluster-ca', '2'),
      foreign: member('foreign', 'member-x', 'other-ca', '2'),
      // -days -1: its validity ended before it began (openssl 3.0's x509 sets no past start date).
      expired: member('expired', 'member-old', 'cluster-ca', '-1'),
      intruder: member('intruder', 'intruder', 'cluster-ca', '2'),
    };
  });

  const x509Xml = (who: { cert: string; key: string }, caFile: string) =>
    authXml(`auth_class="x509" cert_file="${who.cert}" key_file="${who.key}" ca_file="${caFile}" allowed_subjects="member-*"`);

  test('a certificate from the cluster\'s CA joins; one from another CA, an expired one and one with a subject not allowed are refused at once', async () => {
    const name = uniqueCluster('auth-x509');
    const chs = await cluster(name, ['A', 'B', 'C'], (n) => x509Xml(pki[n.toLowerCase()]!, ca));
    const d = channel(x509Xml(pki.d!, ca), 'D');
    await d.connect(name);
    const all = [...chs, d];
    await waitForSameView(all, 5000);
    const view = d.getView()!;
    const coord = authOf(chs[0]!);
    expect(coord.stats.accepted).toBeGreaterThanOrEqual(3);

    await expectRefused(channel(x509Xml(pki.foreign!, otherCa), 'Foreign'), name, /not issued by the cluster's CA/);
    await expectRefused(channel(x509Xml(pki.expired!, ca), 'Expired'), name, /expired or not yet valid/);
    await expectRefused(channel(x509Xml(pki.intruder!, ca), 'Intruder'), name, /subject is not allowed/);
    // A member with the shared-secret token where the cluster wants certificates.
    await expectRefused(channel(authXml(`auth_class="hmac" secret_file="${secretFile(newSecret())}"`), 'Hmac'), name, /another kind/);
    expect(coord.stats.refused).toBe(4);
    expect(coord.stats.invalid).toBe(4);
    expectView(all, view);
  });
});

describe('merges', () => {
  const mergeViews = (rec: Recorder) => rec.views.filter((v) => v instanceof MergeView);

  async function fourInTwoHalves(xml: string): Promise<{ chs: Channel[]; recs: Recorder[] }> {
    const name = uniqueCluster('auth-merge');
    const chs: Channel[] = [];
    const recs: Recorder[] = [];
    for (const n of ['A', 'B', 'C', 'D']) {
      const ch = channel(xml, n);
      recs.push(new Recorder(ch));
      await ch.connect(name);
      chs.push(ch);
    }
    await waitForSameView(chs, 5000);
    await partition([chs.slice(0, 2), chs.slice(2)], 10_000);
    return { chs, recs };
  }

  test('two partitions with the same secret merge once the partition heals', async () => {
    const { chs, recs } = await fourInTwoHalves(authXml(`auth_class="hmac" secret_file="${secretFile(newSecret())}"`));
    for (const ch of chs) discardOf(ch).heal();
    const view = await waitForSameView(chs, 10_000);
    expect(view).toBeInstanceOf(MergeView);
    for (const r of recs) expect(mergeViews(r)).toHaveLength(1);
    const accepted = chs.map(authOf).reduce((n, p) => n + p.stats.accepted, 0);
    expect(accepted).toBeGreaterThanOrEqual(3 + 2); // the joins, a MERGE_REQ and a MERGE_RSP
  });

  test('a subgroup with another secret is not merged in: the merge is refused and counted, both views stay', async () => {
    const { chs, recs } = await fourInTwoHalves(authXml(`auth_class="hmac" secret_file="${secretFile(newSecret())}"`));
    const other = secretFile(newSecret());
    for (const ch of chs.slice(2)) {
      authOf(ch).setValue('secret_file', other);
      authOf(ch).reloadToken();
    }
    const left = chs.slice(0, 2).map((c) => c.getView()!);
    const right = chs.slice(2).map((c) => c.getView()!);
    for (const ch of chs) discardOf(ch).heal();
    const refusedMerges = () => chs.map(authOf).reduce((n, p) => n + p.stats.mergeRequestsRefused + p.stats.mergeResponsesRefused, 0);
    // Several rounds of MERGE3 (every 200-500 ms), each refused.
    await waitUntil(() => refusedMerges() >= 3, 10_000, 'refused merges', () => chs.map((c) => JSON.stringify(authOf(c).getStats())).join('\n'));
    expectView(chs.slice(0, 2), left[0]!);
    expectView(chs.slice(2), right[0]!);
    for (const r of recs) expect(mergeViews(r)).toHaveLength(0);
  });
});

describe('configuration', () => {
  const refusal = (xml: string): ConfigError => {
    try {
      Channel.fromXml(xml, 'auth.xml');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('the stack was accepted');
  };

  test('errors name the attribute (and never print a secret)', () => {
    const file = secretFile(newSecret());
    expect(refusal(authXml('auth_class="hmac"')).attribute).toBe('secret_file');
    expect(refusal(authXml(`auth_class="hmac" secret_file="${file}" secret_env="TSGROUPS_AUTH_TEST"`)).attribute).toBe('secret_env');
    const missing = refusal(authXml(`secret_file="${join(dir, 'no-such-file')}"`));
    expect(missing.attribute).toBe('secret_file');
    expect(missing.message).toMatch(/ENOENT/);
    const unset = refusal(authXml('secret_env="TSGROUPS_AUTH_TEST_UNSET_VARIABLE"'));
    expect(unset.attribute).toBe('secret_env');
    expect(unset.message).toMatch(/TSGROUPS_AUTH_TEST_UNSET_VARIABLE is not set/);
    const short = 'abcdef0123456789';
    const bad = refusal(authXml(`secret_file="${secretFile(short)}"`));
    expect(bad.attribute).toBe('secret_file');
    expect(bad.message).not.toContain(short);
    expect(refusal(authXml(`secret_file="${file}" cert_file="${file}"`)).attribute).toBe('cert_file');
    expect(refusal(authXml(`secret_file="${file}" max_clock_skew="10ms"`)).attribute).toBe('max_clock_skew');
    expect(refusal(authXml(`auth_class="kerberos" secret_file="${file}"`)).attribute).toBe('auth_class');
    expect(refusal(authXml(`auth_class="x509" cert_file="${file}" key_file="${file}"`)).attribute).toBe('ca_file');
    expect(refusal(authXml(`auth_class="x509" cert_file="${join(dir, 'none.pem')}" key_file="${file}" ca_file="${file}"`)).attribute).toBe('cert_file');
    expect(refusal(authXml(`auth_class="x509" cert_file="${file}" key_file="${file}" ca_file="${file}"`)).message).toMatch(/not a PEM or DER X.509 certificate/);
    // Not directly below GMS.
    const misplaced = refusal(authXml(`secret_file="${file}"`).replace(/<AUTH [^>]*\/>/, '').replace('<DISCARD/>', `<DISCARD/><AUTH secret_file="${file}"/>`));
    expect(misplaced.code).toBe('ERR_STACK_DEPENDENCY');
  });

  test('X.509: a key that is not the certificate\'s, and a certificate another CA issued, are refused at construction', () => {
    const at = mkdtempSync(join(dir, 'pki-config-'));
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: at, stdio: 'pipe' });
    for (const n of ['ca', 'other']) {
      run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.pem`, '-days', '1', '-subj', `/CN=${n}`);
    }
    const p = (f: string) => join(at, f);
    expect(refusal(authXml(`auth_class="x509" cert_file="${p('ca.pem')}" key_file="${p('other.key')}" ca_file="${p('ca.pem')}"`)).attribute).toBe('key_file');
    expect(refusal(authXml(`auth_class="x509" cert_file="${p('other.pem')}" key_file="${p('other.key')}" ca_file="${p('ca.pem')}"`)).attribute).toBe('cert_file');
  });
});

test('the replay cache forgets nonces by time and holds at most its capacity', () => {
  const cache = new ReplayCache(3);
  const n = (i: number) => new Uint8Array(16).fill(i);
  expect(cache.add(n(1), 0, 100)).toBe(true);
  expect(cache.add(n(2), 10, 100)).toBe(true);
  expect(cache.add(n(3), 20, 100)).toBe(true);
  expect(cache.has(n(1))).toBe(true);
  expect(cache.add(n(4), 50, 100)).toBe(false); // full of live nonces: refused, not evicted
  expect(cache.has(n(4))).toBe(false);
  expect(cache.add(n(4), 100, 100)).toBe(true); // n(1)'s time is up
  expect(cache.has(n(1))).toBe(false);
  expect(cache.size).toBe(3);
  cache.evict(1000);
  expect(cache.size).toBe(0);
});
