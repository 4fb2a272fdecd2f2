// Micro-benchmark of the seqno table (core's SeqnoTable) against the Map-based SeqnoWindow that
// NAKACK2 used before it. Needs a build (`pnpm build`); the old window is loaded from a build of
// the code before the change:
//   node scripts/bench-seqno-table.mjs [path/to/old/protocols/dist/reliable/seqno-window.js]
// Each scenario runs ROUNDS times per structure, alternating; the median ns per message is printed.
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const { SeqnoAdd, SeqnoTable } = await import(new URL('../packages/core/dist/seqno-table.js', import.meta.url).href);
const oldPath = process.argv[2] ?? '/tmp/baseline/protocols/dist/reliable/seqno-window.js';
const SeqnoWindow = existsSync(oldPath) ? (await import(pathToFileURL(oldPath).href)).SeqnoWindow : null;
if (SeqnoWindow === null) console.log(`(no old SeqnoWindow at ${oldPath}: the new table alone)`);

const N = 1_000_000;
const ROUNDS = 7;
const msgs = Array.from({ length: 1024 }, (_, i) => ({ i }));
const msg = (s) => msgs[s & 1023];

/** A permutation of 1..N: in order, except that every 20th seqno arrives 200 later (a lost one, resent). */
const lossy = (() => {
  const order = [];
  const late = [];
  for (let s = 1; s <= N; s++) {
    if (s % 20 === 7) late.push([s + 200, s]);
    else order.push(s);
    while (late.length > 0 && late[0][0] <= s) order.push(late.shift()[1]);
  }
  for (const [, s] of late) order.push(s);
  return order;
})();

// Each scenario: the way NAKACK2 (receiver, retains delivered messages until STABLE purges them)
// and UNICAST3's sender (keeps messages until acknowledged) use the structure.
const scenarios = {
  'receive in order, purge every 10k': {
    old() {
      const w = new SeqnoWindow(0);
      const out = [];
      let delivered = 0;
      for (let s = 1; s <= N; s++) {
        if (!w.add(s, msg(s), false)) continue;
        out.length = 0;
        w.removeDeliverable(out);
        delivered += out.length;
        if (s % 10_000 === 0) w.purge(s);
      }
      return delivered;
    },
    new() {
      const t = new SeqnoTable(0);
      let delivered = 0;
      for (let s = 1; s <= N; s++) {
        if (t.add(s, msg(s)) === SeqnoAdd.DELIVER) delivered++;
        for (let m = t.removeNext(); m !== undefined; m = t.removeNext()) delivered++;
        if (s % 10_000 === 0) t.purge(s);
      }
      return delivered;
    },
  },
  'receive with 5% resent 200 later, purge every 10k': {
    old() {
      const w = new SeqnoWindow(0);
      const out = [];
      let delivered = 0;
      for (let k = 0; k < lossy.length; k++) {
        const s = lossy[k];
        if (!w.add(s, msg(s), false)) continue;
        out.length = 0;
        w.removeDeliverable(out);
        delivered += out.length;
        if (k % 10_000 === 0) w.purge(w.highestDelivered - 1000);
      }
      return delivered;
    },
    new() {
      const t = new SeqnoTable(0);
      let delivered = 0;
      for (let k = 0; k < lossy.length; k++) {
        const s = lossy[k];
        if (t.add(s, msg(s)) === SeqnoAdd.DELIVER) delivered++;
        for (let m = t.removeNext(); m !== undefined; m = t.removeNext()) delivered++;
        if (k % 10_000 === 0) t.purge(t.highestDelivered - 1000);
      }
      return delivered;
    },
  },
  'sender: add, ack every 64 (purge), resend a few': {
    old() {
      const w = new SeqnoWindow(0);
      let found = 0;
      for (let s = 1; s <= N; s++) {
        w.add(s, msg(s), false);
        w.highestDelivered = s;
        if (s % 64 === 0) {
          if (w.get(s - 10) !== undefined) found++;
          w.purge(s - 32);
        }
      }
      return found;
    },
    new() {
      const t = new SeqnoTable(0);
      let found = 0;
      for (let s = 1; s <= N; s++) {
        t.add(s, msg(s));
        if (s % 64 === 0) {
          if (t.get(s - 10) !== undefined) found++;
          t.purge(s - 32);
        }
      }
      return found;
    },
  },
};

function time(fn) {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return [Number(process.hrtime.bigint() - t0) / N, r];
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const [name, s] of Object.entries(scenarios)) {
  const t = { old: [], new: [] };
  let check = null;
  for (let r = 0; r < ROUNDS; r++) {
    for (const which of SeqnoWindow ? ['old', 'new'] : ['new']) {
      const [ns, result] = time(s[which]);
      t[which].push(ns);
      if (check === null) check = result;
      else if (result !== check) throw new Error(`${name}: ${which} returned ${result}, expected ${check}`);
    }
  }
  const line = SeqnoWindow
    ? `old Map window ${median(t.old).toFixed(1)} ns/msg, new ring table ${median(t.new).toFixed(1)} ns/msg (${(median(t.old) / median(t.new)).toFixed(2)}x)`
    : `new ring table ${median(t.new).toFixed(1)} ns/msg`;
  console.log(`${name.padEnd(52)} ${line}`);
}
