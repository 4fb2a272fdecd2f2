import { type MemberLine, type MemberProcess, waitForAll } from './member-process.js';

/** Keys each writing member puts in the demo. */
export const DEMO_MAP_KEYS = 100;

/** What every member's map must hold: its size and digest (see member-map.ts). */
export interface DemoMap {
  size: number;
  digest: string;
}

/** Sends each of `procs` the `map` command `arg(p)` and waits for each one's `map` line, or its error. */
async function mapCommand(procs: MemberProcess[], arg: (p: MemberProcess) => string, what: string): Promise<Map<MemberProcess, MemberLine>> {
  const from = new Map(procs.map((p) => [p, p.lines.length] as const));
  for (const p of procs) p.send(`map ${arg(p)}`);
  const answer = (p: MemberProcess) => p.lines.slice(from.get(p)!).find((l) => l.event === 'map' || (l.event === 'error' && l.cmd === 'map'));
  await waitForAll(procs, () => procs.every((p) => answer(p) !== undefined), 20_000, what);
  return new Map(procs.map((p) => [p, answer(p)!]));
}

const failed = (p: MemberProcess, l: MemberLine) => `  ${p.name.padEnd(2)} map failed: ${l.message}`;

/** Prints each member's map; true if each one holds `want` (or, without `want`, all the same map). */
function showMaps(lines: Map<MemberProcess, MemberLine>, out: (line: string) => void, want?: DemoMap): boolean {
  for (const [p, l] of lines) out(l.event === 'map' ? `  ${p.name.padEnd(2)} map: ${l.size} entries, digest ${l.digest}` : failed(p, l));
  const all = [...lines.values()];
  const ref = want ?? all[0]!;
  return all.every((l) => l.event === 'map' && l.size === ref.size && l.digest === ref.digest);
}

/**
 * The demo's replicated-map part: every member process has a ReplicatedHashMap (see
 * member-map.ts); the first members, up to 3, each put {@link DEMO_MAP_KEYS} keys at once
 * (synchronous writes: each resolves once every member applied it); then every member prints its
 * map's size and digest, which must be the same everywhere.
 * @returns the map every member holds, or null if they differ or a command failed
 */
export async function runReplicatedMap(procs: MemberProcess[], out: (line: string) => void): Promise<DemoMap | null> {
  const writers = procs.slice(0, Math.min(3, procs.length));
  out(`replicated map: ${writers.map((p) => p.name).join(', ')} each put ${DEMO_MAP_KEYS} keys at once into the ReplicatedHashMap every member has (sync writes)`);
  const puts = await mapCommand(writers, (p) => `put ${p.name} ${DEMO_MAP_KEYS}`, 'the puts to the replicated map');
  for (const [p, l] of puts) out(l.event === 'map' ? `  ${p.name.padEnd(2)} put ${l.count} keys in ${l.elapsedMs} ms` : failed(p, l));
  if ([...puts.values()].some((l) => l.event !== 'map')) return null;
  // Every put resolved once every member had applied it: the maps are complete now.
  const shown = await mapCommand(procs, () => 'show', "every member's map");
  const size = writers.length * DEMO_MAP_KEYS;
  const first = [...shown.values()][0]!;
  if (!showMaps(shown, out) || first.size !== size) {
    out(`the members' maps differ (want ${size} entries each)`);
    return null;
  }
  const map = { size, digest: first.digest! };
  out(`all ${procs.length} members hold the same map: ${map.size} entries, digest ${map.digest}`);
  return map;
}

/**
 * The joiner's part: `joiner`, which joined after the writes, starts its map (a state transfer
 * from the coordinator) and must hold `want`; the others show theirs too.
 * @returns true if every member holds `want`
 */
export async function runMapJoiner(joiner: MemberProcess, others: MemberProcess[], want: DemoMap, out: (line: string) => void): Promise<boolean> {
  out(`${joiner.name} starts its replicated map: it fetches the map from the coordinator (state transfer)`);
  const started = (await mapCommand([joiner], () => 'start', `${joiner.name}'s map start`)).get(joiner)!;
  if (started.event !== 'map') {
    out(failed(joiner, started));
    return false;
  }
  out(`  ${joiner.name.padEnd(2)} fetched ${started.size} entries in ${started.elapsedMs} ms`);
  const shown = await mapCommand([...others, joiner], () => 'show', "every member's map");
  const ok = showMaps(shown, out, want);
  out(
    ok
      ? `${joiner.name} holds the same map as the others: ${want.size} entries, digest ${want.digest}`
      : `the maps differ (want ${want.size} entries, digest ${want.digest})`,
  );
  return ok;
}
