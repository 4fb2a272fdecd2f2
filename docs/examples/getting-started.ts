// The first program of docs/getting-started.md (the guide shows this file verbatim, and
// test/docs-example.test.ts runs it). Two members, alice and bob, join one cluster in this
// process, exchange messages, and leave.
import { Channel, ChannelStateError, ConfigError, Flag, Message } from 'tsgroups';

export interface GettingStartedResult {
  /** Every line the program printed, in order. */
  printed: string[];
  /** The members of the view, as bob saw it once both had joined. */
  members: string[];
  /** The values alice and bob received. */
  alice: unknown[];
  bob: unknown[];
  /** The codes of the errors the program provoked on purpose. */
  errors: string[];
}

export async function main(
  clusterName = 'hello-cluster',
  print: (line: string) => void = console.log,
): Promise<GettingStartedResult> {
  const result: GettingStartedResult = { printed: [], members: [], alice: [], bob: [], errors: [] };
  const out = (line: string) => {
    result.printed.push(line);
    print(line);
  };

  // 'loopback.xml' names a stack that the tsgroups package ships (a path to a file works too).
  const alice = new Channel('loopback.xml').setName('alice');
  const bob = new Channel('loopback.xml').setName('bob');
  try {
    // alice listens the JGroups way, with a receiver.
    alice.setReceiver({
      receive(msg) {
        const value = msg.getObject();
        result.alice.push(value);
        out(`alice <- ${msg.getSrc()}: ${JSON.stringify(value)}`);
      },
      viewAccepted(view) {
        out(`alice: view ${view}`);
      },
    });
    // bob uses typed events, and does not get his own multicasts back.
    bob.setDiscardOwnMessages(true);
    bob.on('view', (view) => out(`bob: view ${view}`));

    await alice.connect(clusterName); // nobody there yet: alice founds the cluster
    await bob.connect(clusterName); // resolves once bob is in a view
    result.members = bob.getView()!.getMembers().map(String); // the coordinator (oldest) first
    out(`members: ${result.members.join(', ')}`);

    // bob reads with `for await` until he has two messages (or gives up after 5 s).
    const reading = (async () => {
      for await (const msg of bob.messages({ signal: AbortSignal.timeout(5000) })) {
        result.bob.push(msg.getObject());
        out(`bob <- ${msg.getSrc()}: ${JSON.stringify(msg.getObject())}`);
        if (result.bob.length === 2) break;
      }
    })();
    await alice.send(null, 'hello'); // null: to every member, alice included
    await alice.send(bob.getAddress(), { text: 'hi bob', n: 1 }); // to bob only
    await reading;

    // A prepared Message carries flags; OOB may be delivered ahead of earlier messages.
    const aliceGotBye = new Promise<void>((resolve) => alice.on('message', (m) => m.getObject() === 'bye' && resolve()));
    await bob.send(new Message(null, 'bye').setFlag(Flag.OOB));
    await aliceGotBye;

    await bob.disconnect(); // bob leaves; he could connect again, with a new address
    out(`bob is ${bob.getState()}`);
    try {
      await bob.send(null, 'anyone?');
    } catch (err) {
      if (!(err instanceof ChannelStateError)) throw err;
      result.errors.push(err.code); // ERR_CHANNEL_NOT_CONNECTED
      out(`bob: ${err.message}`);
    }
  } finally {
    await bob.close(); // disconnects if needed and releases everything; final
    await alice.close();
  }
  try {
    await alice.send(null, 'still there?');
  } catch (err) {
    if (!(err instanceof ChannelStateError)) throw err;
    result.errors.push(err.code); // ERR_CHANNEL_CLOSED
    out(`alice: ${err.message}`);
  }

  // A wrong stack fails when the channel is created, naming the element and the attribute.
  try {
    Channel.fromXml('<config><SHARED_LOOPBACK/><SHARED_LOOPBACK_PING/><GMS join_timeout="soon"/></config>');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    result.errors.push(err.code); // ERR_CONFIG_BAD_VALUE, element GMS, attribute join_timeout
    out(`config: ${err.message}`);
  }
  return result;
}
