// A map on every member, with ReplicatedHashMap (docs/building-blocks.md shows this file verbatim,
// and test/building-blocks-docs.test.ts runs it). Three members in this process, A, B and C, write
// to it; D comes later, fetches the map with start() and holds the same entries.
import { Channel, ReplicatedHashMap } from 'tsgroups';

export async function main(cluster = 'replicated-map-demo', print: (line: string) => void = console.log): Promise<void> {
  // start() fetches the map by state transfer: the stack needs STATE_TRANSFER and BARRIER, as
  // loopback-reliable.xml and udp.xml have. For concurrent writes of the same keys from several
  // members, use sequencer.xml (SEQUENCER): every member then applies all writes in one order.
  const channels = ['A', 'B', 'C', 'D'].map((name) => new Channel('loopback-reliable.xml').setName(name));
  const maps = channels.map((ch) => new ReplicatedHashMap<string, number>(ch));
  const [a, b, c, d] = maps as [ReplicatedHashMap<string, number>, ReplicatedHashMap<string, number>, ReplicatedHashMap<string, number>, ReplicatedHashMap<string, number>];
  const show = (map: ReplicatedHashMap<string, number>) =>
    [...map]
      .sort(([x], [y]) => (x < y ? -1 : 1))
      .map(([key, value]) => `${key}=${value}`)
      .join(', ');
  try {
    for (const i of [0, 1, 2]) {
      await channels[i]!.connect(cluster);
      await maps[i]!.start(); // the first member has nobody to ask and starts empty
    }

    // Every member is notified of every write it applies, whoever wrote it.
    c.on('put', (key, value, previous) => {
      if (key === 'pears') print(`C: pears=${value} (was ${previous})`);
    });

    // Writes go to every member; each resolves once all of them applied it (sync, the default).
    await a.put('apples', 10);
    await Promise.all([b.put('pears', 4), c.put('plums', 7)]); // C: pears=4 (was undefined)
    print(`B reads locally: ${show(b)}`); // B reads locally: apples=10, pears=4, plums=7

    // The results are the map's as it was, here, when the write was applied.
    print(`putIfAbsent apples: ${await b.putIfAbsent('apples', 99)}`); // putIfAbsent apples: 10
    const replaced = await a.replace('pears', 5); // C: pears=5 (was 4)
    print(`replace pears: ${replaced}`); // replace pears: 4
    print(`replace figs: ${await a.replace('figs', 1)}`); // replace figs: undefined
    print(`remove plums: ${await c.remove('plums')}`); // remove plums: 7

    // D joins now: connect, then start() replaces its (empty) map with the coordinator's.
    d.on('state', (size) => print(`D fetched ${size} entries`)); // D fetched 2 entries
    await channels[3]!.connect(cluster);
    await d.start();
    print(`D reads locally: ${show(d)}`); // D reads locally: apples=10, pears=5
    await d.put('cherries', 3);
    print(`the same everywhere: ${maps.every((map) => show(map) === show(a))}, ${show(a)}`); // the same everywhere: true, apples=10, cherries=3, pears=5
  } finally {
    for (const map of maps) map.stop();
    for (const ch of channels) await ch.close();
  }
}
