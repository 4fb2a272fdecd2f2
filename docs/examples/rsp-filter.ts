// A response filter (docs/building-blocks.md shows this file verbatim, and
// test/building-blocks-docs.test.ts runs it). Three shops hold copies of a book; A asks them all
// and stops at the first shop with enough copies.
import { Channel, RpcDispatcher, type RspFilter } from 'tsgroups';

/** Counts only shops with at least `min` copies, and needs no more answers once one has them. */
class AtLeast implements RspFilter {
  private found = false;
  constructor(private readonly min: number) {}
  isAcceptable(copies: unknown): boolean {
    const enough = typeof copies === 'number' && copies >= this.min;
    if (enough) this.found = true;
    return enough;
  }
  needMoreResponses(): boolean {
    return !this.found;
  }
}

export async function main(cluster = 'filter-demo', print: (line: string) => void = console.log): Promise<void> {
  const stock: Record<string, number> = { A: 0, B: 7, C: 3 };
  const channels = Object.keys(stock).map((name) => new Channel('loopback.xml').setName(name));
  const dispatchers = channels.map((ch) => new RpcDispatcher(ch, { copies: () => stock[ch.getName()!] }));
  try {
    for (const ch of channels) await ch.connect(cluster);
    const a = dispatchers[0]!;

    // A filter holds the state of one call: give each call a new one.
    const five = await a.callRemoteMethods<number>(null, 'copies', [], { rspFilter: new AtLeast(5) });
    print(`at least 5: ${five}`); // at least 5: A: not received, B: value: 7, C: not received

    // Nobody has 10: every answer is refused, and the call ends once all have answered.
    const ten = await a.callRemoteMethods<number>(null, 'copies', [], { rspFilter: new AtLeast(10) });
    print(`at least 10: ${ten.getResults().length} shops of ${ten.size()}`); // at least 10: 0 shops of 3
  } finally {
    for (const ch of channels) await ch.close();
  }
}
