// Times jsonMarshaller.objectToBuffer on the common cases (a small object, a 1000-character
// string) and on values that need the extended encoding. Usage:
//   node scripts/bench-marshaller.mjs [path/to/marshaller.js ...]
// (default: the built packages/core/dist/marshaller.js). Several paths are run alternated, so
// that a before/after comparison sees the same machine load; medians of 7 rounds are printed.
import { pathToFileURL } from 'node:url';

const paths = process.argv.slice(2);
if (paths.length === 0) paths.push(new URL('../packages/core/dist/marshaller.js', import.meta.url).pathname);
const impls = await Promise.all(paths.map(async (p) => ({ p, m: (await import(pathToFileURL(p).href)).jsonMarshaller })));

const cases = {
  'small object': { id: 42, name: 'alice', tags: ['a', 'b'], nested: { ok: true, ratio: 0.5 } },
  '1000-char string': 'x'.repeat(1000),
  'object with 100 fields': Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i % 3 === 0 ? `v${i}` : i])),
};
const extended = { 'Map and Date': { when: new Date(0), counts: new Map([['x', 1n]]) } };

function time(fn, value, n) {
  const t0 = process.hrtime.bigint();
  let sink = 0;
  for (let i = 0; i < n; i++) sink += fn.objectToBuffer(value).length;
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (sink < 0) console.log(sink);
  return ns;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const N = 200_000;
for (const [name, value] of Object.entries(cases)) {
  const runs = impls.map(() => []);
  for (const { m } of impls) time(m, value, N); // warm-up
  for (let round = 0; round < 7; round++) impls.forEach(({ m }, i) => runs[i].push(time(m, value, N)));
  console.log(`${name}: ${impls.map(({ p }, i) => `${p.split('/').slice(-3).join('/')} ${median(runs[i]).toFixed(0)} ns`).join(' | ')}`);
}
for (const [name, value] of Object.entries(extended)) {
  for (const { p, m } of impls) {
    try {
      time(m, value, 1000);
      console.log(`${name}: ${p.split('/').slice(-3).join('/')} ${time(m, value, 50_000).toFixed(0)} ns`);
    } catch (err) {
      console.log(`${name}: ${p.split('/').slice(-3).join('/')} refused (${err.code})`);
    }
  }
}
