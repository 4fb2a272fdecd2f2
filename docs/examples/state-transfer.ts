// State transfer (docs/state-transfer.md shows this file verbatim, and
// test/state-transfer-docs.test.ts runs it). A replicated key-value map: every update is a
// multicast; a member that joins fetches the map from the coordinator with connect(cluster,
// { state }), streamed as JSON lines, while updates keep coming; it ends with the same map.
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { Channel, type Message, type Receiver } from 'tsgroups';

class ReplicatedMap implements Receiver {
  readonly map = new Map<string, number>();

  receive(msg: Message): void {
    const [key, value] = msg.getObject<[string, number]>();
    this.map.set(key, value);
  }

  /** The provider: one line per entry, honouring backpressure (incoming updates wait meanwhile). */
  async getState(output: Writable): Promise<void> {
    for (const [key, value] of this.map) {
      if (!output.write(`${JSON.stringify([key, value])}\n`)) await once(output, 'drain');
    }
  }

  /** The joiner: reads the lines as they arrive; the whole state is never one buffer. */
  async setState(input: Readable): Promise<void> {
    this.map.clear();
    for await (const line of createInterface({ input })) {
      const [key, value] = JSON.parse(line) as [string, number];
      this.map.set(key, value);
    }
  }
}

export async function main(cluster = 'state-demo', print: (line: string) => void = console.log): Promise<void> {
  const apps = [new ReplicatedMap(), new ReplicatedMap()];
  // loopback-reliable.xml and udp.xml have STATE_TRANSFER and BARRIER; loopback.xml has not.
  const [a, b] = apps.map((app, i) => new Channel('loopback-reliable.xml').setName('AB'[i]!).setReceiver(app)) as [Channel, Channel];
  try {
    await a.connect(cluster);
    for (let i = 0; i < 10_000; i++) await a.send(null, [`key${i}`, i]);
    // Updates keep coming while B joins: each is in the state B gets, or delivered after it.
    const updating = (async () => {
      for (let i = 0; i < 1000; i++) await a.send(null, [`key${i}`, -i]);
    })();
    await b.connect(cluster, { state: { timeout: 10_000 } }); // null target: the coordinator
    await updating;
    await a.send(null, ['last', 1]);
    while (!apps[1]!.map.has('last')) await new Promise((r) => setTimeout(r, 10));
    print(`B has ${apps[1]!.map.size} entries, key999 = ${apps[1]!.map.get('key999')}`);
    // B has 10001 entries, key999 = -999
    print(`the same map at A and B: ${JSON.stringify([...apps[0]!.map]) === JSON.stringify([...apps[1]!.map])}`);
    // the same map at A and B: true
  } finally {
    await b.close();
    await a.close();
  }
}
