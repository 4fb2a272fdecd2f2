import { Channel, type Message, type View } from 'tsgroups';

export interface DemoOptions {
  members: number;
  messages: number;
  stack: string;
  cluster: string;
  out: (line: string) => void;
}

/**
 * The demo: `members` channels on one stack form a cluster one after another, each multicasts
 * `messages` greetings, one member leaves and later rejoins. Every member prints the views it
 * installs; at the end the demo checks that every member received every multicast exactly once.
 * @returns true if every check held
 */
export async function runDemo(o: DemoOptions): Promise<boolean> {
  const names = Array.from({ length: o.members }, (_, i) => String.fromCharCode(65 + i));
  const received = new Map<string, string[]>();
  const channels: Channel[] = [];
  const show = (name: string, v: View) => o.out(`  ${name.padEnd(2)} view ${v}`);
  try {
    o.out(`cluster "${o.cluster}" on ${o.stack}: ${o.members} members join`);
    for (const name of names) {
      const ch = new Channel(o.stack).setName(name);
      received.set(name, []);
      ch.setReceiver({
        receive: (m: Message) => received.get(name)!.push(m.getObject<string>()),
        viewAccepted: (v) => show(name, v),
      });
      channels.push(ch);
      await ch.connect(o.cluster);
    }
    await settle(() => channels.every((c) => c.getView()?.size() === o.members));

    o.out(`each member multicasts ${o.messages} messages`);
    for (const ch of channels) for (let i = 0; i < o.messages; i++) void ch.send(null, `${ch.getName()}#${i}`);
    const total = o.members * o.messages;
    await settle(() => [...received.values()].every((r) => r.length >= total));

    const leaver = channels[channels.length - 1]!;
    o.out(`${leaver.getName()} leaves, then rejoins with a new address`);
    await leaver.disconnect();
    await settle(() => channels.slice(0, -1).every((c) => c.getView()?.size() === o.members - 1));
    await leaver.connect(o.cluster);
    await settle(() => channels.every((c) => c.getView()?.size() === o.members));

    let ok = true;
    for (const [name, msgs] of received) {
      const unique = new Set(msgs);
      const fine = msgs.length === total && unique.size === total;
      ok &&= fine;
      o.out(`  ${name.padEnd(2)} received ${msgs.length} of ${total} multicasts${fine ? ', each once' : ' (MISMATCH)'}`);
    }
    const view = channels[0]!.getView()!;
    const agree = channels.every((c) => c.getView()!.viewId.equals(view.viewId));
    ok &&= agree;
    o.out(agree ? `all members agree on view ${view.viewId}` : 'members disagree on the view');
    return ok;
  } finally {
    await Promise.all(channels.map((c) => c.close()));
  }
}

async function settle(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('the demo timed out waiting for the cluster');
    await new Promise((r) => setTimeout(r, 5));
  }
}
