// Requests as messages, with MessageDispatcher (docs/building-blocks.md shows this file verbatim,
// and test/building-blocks-docs.test.ts runs it). Two dispatchers share each channel, told apart
// by their id; the channels' receivers see only the plain message.
import { Channel, Message, MessageDispatcher } from 'tsgroups';

export async function main(cluster = 'dispatcher-demo', print: (line: string) => void = console.log): Promise<void> {
  const channels = ['A', 'B'].map((name) => new Channel('loopback.xml').setName(name));
  for (const ch of channels) {
    ch.setReceiver({ receive: (msg) => print(`${ch.getName()}'s receiver: ${msg.getObject()}`) });
  }
  // The handler gets each request as a Message; what it returns (or resolves to) is the answer.
  const readers = channels.map(
    (ch) => new MessageDispatcher(ch, (msg) => `${ch.getName()} read ${msg.getObject()} from ${msg.getSrc()}`),
  );
  // A second dispatcher on each channel, with its own id.
  const shouters = channels.map((ch) => new MessageDispatcher(ch, (msg) => String(msg.getObject()).toUpperCase(), { id: 1 }));
  try {
    for (const ch of channels) await ch.connect(cluster);
    const b = channels[1]!.getAddress()!;

    await channels[0]!.send(null, 'plain'); // A's receiver: plain, then B's receiver: plain
    // Sent after 'plain' by the same member, so every member handles it after 'plain' arrived.
    const rsps = await readers[0]!.castMessage<string>(null, new Message(null, 'news'));
    print(rsps.getResults().join('; ')); // A read news from A; B read news from A
    print(await readers[0]!.sendMessage<string>(new Message(b, 'a note'))); // B read a note from A
    print(await shouters[0]!.sendMessage<string>(new Message(b, 'a note'))); // A NOTE
  } finally {
    for (const ch of channels) await ch.close();
  }
}
