import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AbortError, type AnyEvent, Channel, DISCARD, EventType, Protocol } from 'tsgroups';
import { closeAll, loopbackStack, type Member, startCluster, uniqueCluster } from './helpers/cluster.js';

// An unhandled rejection inside a test fails it (jest reports it against the test that was
// running); the last test also runs the scenarios in a process of its own, where
// process.on('unhandledRejection') sees what Node would crash on.

let members: Member[] = [];
const extra: Channel[] = [];
afterEach(async () => {
  await closeAll([...members.map((m) => m.channel), ...extra.splice(0)]);
  members = [];
});

/** Gives a rejection left without a handler the turns it needs to be reported. */
async function settleRejections(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

function expectAbortError(err: unknown, reason?: unknown): void {
  expect(err).toBeInstanceOf(AbortError);
  expect(err).toMatchObject({ code: 'ERR_ABORTED' });
  if (reason !== undefined) expect((err as AbortError).cause).toBe(reason);
}

describe('an aborted connect rejects with AbortError (ERR_ABORTED) and leaves the channel reusable', () => {
  test('a signal that is already aborted', async () => {
    const ch = new Channel(loopbackStack());
    extra.push(ch);
    const reason = new Error('no thanks');
    const err = await ch.connect(uniqueCluster(), { signal: AbortSignal.abort(reason) }).catch((e: unknown) => e);
    expectAbortError(err, reason);
    expect(ch.getState()).toBe('unconnected');
    await settleRejections();
  });

  test('aborted in the same tick as connect', async () => {
    const ch = new Channel(loopbackStack());
    extra.push(ch);
    const ac = new AbortController();
    const p = ch.connect(uniqueCluster(), { signal: ac.signal });
    ac.abort();
    expectAbortError(await p.catch((e: unknown) => e));
    await settleRejections();
    expect(ch.getState()).toBe('unconnected');
    await ch.connect(uniqueCluster());
    expect(ch.isConnected()).toBe(true);
  });

  test('aborted while the join waits for discovery responses', async () => {
    const ac = new AbortController();
    /** Aborts the connect the moment GMS asks for discovery (FIND_MBRS passes down through it). */
    class AbortOnDiscovery extends Protocol {
      static override readonly protocolName: string = 'ABORT_ON_DISCOVERY';
      override downEvent(evt: AnyEvent): unknown {
        const r = this.downProt.downEvent(evt);
        if (evt.type === EventType.FIND_MBRS) ac.abort(new Error('changed my mind'));
        return r;
      }
    }
    const ch = new Channel(loopbackStack(() => [new AbortOnDiscovery()]));
    extra.push(ch);
    const err = await ch.connect(uniqueCluster(), { signal: ac.signal }).catch((e: unknown) => e);
    expectAbortError(err, ac.signal.reason);
    await settleRejections();
    expect(ch.getState()).toBe('unconnected');
  });

  test('aborted in the middle of a join that a deaf coordinator never answers', async () => {
    members = await startCluster(1);
    const coord = members[0]!.channel;
    await coord.getProtocolStack().insertProtocol(new DISCARD().setDiscardAll(true), 'above', 'SHARED_LOOPBACK');
    const ch = new Channel(loopbackStack()).setName('late');
    extra.push(ch);
    const ac = new AbortController();
    const p = ch.connect(coord.getClusterName()!, { signal: ac.signal }).catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 50);
    expectAbortError(await p);
    await settleRejections();
    expect(ch.getState()).toBe('unconnected');
  });

  test('in a process of its own, none of these aborts leaves an unhandled rejection', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/connect-abort.mjs', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [fixture], { timeout: 20_000 }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)));
    });
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const scenarios = lines.filter((l) => 'scenario' in l);
    expect(scenarios.map((s) => s.scenario)).toEqual(['already aborted', 'same tick', 'during discovery']);
    for (const s of scenarios) expect(s).toMatchObject({ code: 'ERR_ABORTED', isAbortError: true, state: 'unconnected' });
    expect(lines.at(-1)).toEqual({ unhandled: [] });
  });
});
