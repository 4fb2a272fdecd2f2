// Runs the example of docs/state-transfer.md and checks that the guide shows its source verbatim.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from '../docs/examples/state-transfer.js';
import { uniqueCluster } from './helpers/cluster.js';

const docText = (rel: string) => readFileSync(fileURLToPath(new URL(`../docs/${rel}`, import.meta.url)), 'utf8');

test('the state transfer example prints what its comments say', async () => {
  const printed: string[] = [];
  await main(uniqueCluster('state-doc'), (line) => printed.push(line));
  expect(printed).toEqual(['B has 10001 entries, key999 = -999', 'the same map at A and B: true']);
  const source = docText('examples/state-transfer.ts');
  for (const line of printed) expect(source).toContain(`// ${line}\n`);
});

test('docs/state-transfer.md shows the example file verbatim', () => {
  expect(docText('state-transfer.md')).toContain(docText('examples/state-transfer.ts'));
});
