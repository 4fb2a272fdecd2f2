// Runs the examples of docs/building-blocks.md, each against its own in-process cluster on the
// loopback stack, checks what they print (and that the comments in them say so), and checks that
// the guide's TypeScript is exactly these files, so the guide cannot drift from what runs here.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main as errors } from '../docs/examples/errors.js';
import { main as messageDispatcher } from '../docs/examples/message-dispatcher.js';
import { main as replCache } from '../docs/examples/repl-cache.js';
import { main as replicatedMap } from '../docs/examples/replicated-map.js';
import { main as rpc } from '../docs/examples/rpc.js';
import { main as rspFilter } from '../docs/examples/rsp-filter.js';
import { main as waiting } from '../docs/examples/waiting.js';
import { uniqueCluster } from './helpers/cluster.js';

const EXAMPLES = ['rpc.ts', 'rsp-filter.ts', 'errors.ts', 'waiting.ts', 'message-dispatcher.ts', 'replicated-map.ts', 'repl-cache.ts'];

const docText = (rel: string) => readFileSync(fileURLToPath(new URL(`../docs/${rel}`, import.meta.url)), 'utf8');

/** Runs an example's main() on a cluster of its own and returns the lines it printed. */
async function run(main: (cluster: string, print: (line: string) => void) => Promise<void>, prefix: string): Promise<string[]> {
  const printed: string[] = [];
  await main(uniqueCluster(prefix), (line) => printed.push(line));
  return printed;
}

/** The example's comments show these lines as its output (`// <line>`). */
function expectCommented(example: string, lines: string[]): void {
  const source = docText(`examples/${example}`);
  for (const line of lines) expect(source).toContain(`// ${line}\n`);
}

describe('the examples of building-blocks.md', () => {
  test('rpc.ts: GET_ALL, GET_MAJORITY, GET_FIRST, GET_NONE, a subset, one member', async () => {
    const printed = await run(rpc, 'bb-rpc');
    const exact = ['GET_ALL: A: value: 5, B: value: 5, C: value: 5', 'GET_MAJORITY: 2 of 3', 'after GET_NONE: 15, 15, 15', 'subset: C, B', 'B counted 1000 bytes'];
    expect(printed).toEqual([exact[0], exact[1], expect.stringMatching(/^GET_FIRST: 1 of 3, from [ABC]$/), ...exact.slice(2)]);
    expectCommented('rpc.ts', exact);
  });

  test('rsp-filter.ts: a filter picks the first shop with enough copies, and refuses the rest', async () => {
    const printed = await run(rspFilter, 'bb-filter');
    expect(printed).toEqual(['at least 5: A: not received, B: value: 7, C: not received', 'at least 10: 0 shops of 3']);
    expectCommented('rsp-filter.ts', printed);
  });

  test('errors.ts: RemoteError with name, code and stack; an error per Rsp; ERR_NO_SUCH_METHOD', async () => {
    const printed = await run(errors, 'bb-errors');
    const exact = [
      'alice: 100',
      'ERR_REMOTE: RangeError at B: no account bob',
      'remote: RangeError NO_ACCOUNT from B',
      'stack shared: true',
      'ERR_NO_SUCH_METHOD: TsgroupsError at B: no method withdraw',
    ];
    expect(printed).toEqual([...exact.slice(0, 4), 'A: NO_ACCOUNT', 'B: NO_ACCOUNT', exact[4]]);
    expectCommented('errors.ts', exact);
  });

  test('waiting.ts: timeouts, a slow method that holds up nobody, AbortSignal, a member that leaves', async () => {
    const printed = await run(waiting, 'bb-waiting');
    expect(printed).toEqual([
      'after 200 ms: A: value: report of A, B: not received, C: value: report of C',
      'one member: ERR_TIMEOUT',
      'B is here',
      'aborted: ERR_ABORTED',
      'calls still waiting: 0',
      'B left: report of A, report of C; B suspected: true',
      'one member: ERR_SUSPECTED',
    ]);
    expectCommented('waiting.ts', printed);
  });

  test("message-dispatcher.ts: castMessage, sendMessage, two dispatchers by id; receivers see only 'plain'", async () => {
    const printed = await run(messageDispatcher, 'bb-dispatcher');
    // The two receivers may print in either order; both before the answers.
    expect(printed.slice(0, 2).sort()).toEqual(["A's receiver: plain", "B's receiver: plain"]);
    const answers = ['A read news from A; B read news from A', 'B read a note from A', 'A NOTE'];
    expect(printed.slice(2)).toEqual(answers);
    expectCommented('message-dispatcher.ts', answers);
  });

  test('replicated-map.ts: writes from several members, their results, a notification, a late member that starts and sees the map', async () => {
    const printed = await run(replicatedMap, 'bb-replicated-map');
    expect(printed).toEqual([
      'C: pears=4 (was undefined)',
      'B reads locally: apples=10, pears=4, plums=7',
      'putIfAbsent apples: 10',
      'C: pears=5 (was 4)',
      'replace pears: 4',
      'replace figs: undefined',
      'remove plums: 7',
      'D fetched 2 entries',
      'D reads locally: apples=10, pears=5',
      'the same everywhere: true, apples=10, cherries=3, pears=5',
    ]);
    expectCommented('replicated-map.ts', printed);
  });

  test('repl-cache.ts: each item on 2 members, config on all; after B leaves, again 2 each; remove', async () => {
    const printed = await run(replCache, 'bb-repl-cache');
    expect(printed).toEqual([
      'copies of each item: 2',
      'config on 4 members',
      'item-7 read at D: 7',
      'after B left: 2 copies of each item, config on 3',
      'keys held by A, C and D: 203',
      'removed: true; item-7 read at A: undefined',
    ]);
    expectCommented('repl-cache.ts', printed);
  });
});

describe('building-blocks.md', () => {
  test('its TypeScript blocks are exactly the example files, verbatim', () => {
    const guide = docText('building-blocks.md');
    const blocks = [...guide.matchAll(/```ts\n([\s\S]*?)\n```/g)].map((m) => m[1]);
    const sources = EXAMPLES.map((file) => docText(`examples/${file}`).trimEnd());
    expect(blocks).toEqual(sources);
  });
});
