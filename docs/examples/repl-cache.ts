// A cache that keeps each key on some of the members, with ReplCache (docs/building-blocks.md
// shows this file verbatim, and test/building-blocks-docs.test.ts runs it). Four members in this
// process, A to D; B leaves, and the others copy its keys so that each is on 2 members again.
import { Channel, ReplCache } from 'tsgroups';

export async function main(cluster = 'repl-cache-demo', print: (line: string) => void = console.log): Promise<void> {
  const channels = ['A', 'B', 'C', 'D'].map((name) => new Channel('loopback.xml').setName(name));
  // One cache on every member; each key goes on 2 members unless put says otherwise.
  const caches = channels.map((ch) => new ReplCache<string, number>(ch, { defaultReplCount: 2 }));
  const [a, b, c, d] = caches as [ReplCache<string, number>, ReplCache<string, number>, ReplCache<string, number>, ReplCache<string, number>];
  /** How many members hold a copy of `key` (a member that left holds none). */
  const copies = (key: string) => caches.filter((cache) => cache.localKeys().includes(key)).length;
  const items = Array.from({ length: 100 }, (_, i) => `item-${i}`);
  try {
    for (const ch of channels) await ch.connect(cluster);

    // put resolves once the key's owners, picked by a consistent hash of the view, stored it.
    for (const [i, key] of items.entries()) await a.put(key, i);
    await b.put('config', 1, -1); // -1: on every member
    print(`copies of each item: ${[...new Set(items.map(copies))].join(', ')}`); // copies of each item: 2
    print(`config on ${copies('config')} members`); // config on 4 members

    // Any member reads any key: its own copy, or an owner's.
    print(`item-7 read at D: ${await d.get('item-7')}`); // item-7 read at D: 7

    // B leaves. For each key B held, the other owner copies it to a new one.
    await channels[1]!.close();
    const deadline = Date.now() + 5000;
    while (!items.every((key) => copies(key) === 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    print(`after B left: ${[...new Set(items.map(copies))].join(', ')} copies of each item, config on ${copies('config')}`); // after B left: 2 copies of each item, config on 3
    print(`keys held by A, C and D: ${a.localKeys().length + c.localKeys().length + d.localKeys().length}`); // keys held by A, C and D: 203

    // remove takes a key off every member.
    print(`removed: ${await c.remove('item-7')}; item-7 read at A: ${await a.get('item-7')}`); // removed: true; item-7 read at A: undefined
  } finally {
    for (const cache of caches) cache.stop();
    for (const ch of channels) await ch.close();
  }
}
