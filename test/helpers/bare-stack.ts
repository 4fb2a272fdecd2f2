// Bare stacks: a transport with nothing above it but a probe that records what comes up, driven
// through the same lifecycle a channel's connect uses. For tests of transports and of the wire
// (the compliance suite, datagram sizes), where a full stack's protocols would only get in the way.
import {
  Address,
  type AnyEvent,
  Event,
  EventType,
  type Message,
  type MessageBatch,
  type PhysicalAddress,
  ProtocolStack,
  type Transport,
} from 'tsgroups';

/** A transport under a probe that records what comes up. */
export interface Node {
  readonly name: string;
  readonly transport: Transport;
  readonly stack: ProtocolStack;
  readonly address: Address;
  /** Every batch that came up: its sender, whether multicast, and how many messages. */
  readonly batches: { sender: Address; multicast: boolean; size: number }[];
  /** Every message that came up, in order. */
  readonly messages: Message[];
  /** Payloads as text, in order. */
  texts(): string[];
}

/** Starts a bare stack of `t` in `cluster`, as a channel's connect would. */
export async function startNode(t: Transport, cluster: string, name: string): Promise<Node> {
  const stack = new ProtocolStack([t]);
  const address = Address.random();
  const messages: Message[] = [];
  const batches: Node['batches'] = [];
  stack.setUpHandler({
    up: (m: Message) => {
      messages.push(m);
      batches.push({ sender: m.src!, multicast: m.dest === null, size: 1 });
    },
    upBatch: (b: MessageBatch) => {
      batches.push({ sender: b.sender, multicast: b.multicast, size: b.size() });
      for (const m of b) messages.push(m);
    },
    upEvent: () => undefined,
  });
  stack.localAddress = address;
  stack.clusterName = cluster;
  await stack.init();
  stack.downEvent(new Event(EventType.SET_LOCAL_ADDRESS, address));
  stack.downEvent(new Event(EventType.SET_CLUSTER_NAME, cluster));
  await stack.start();
  return { name, transport: t, stack, address, batches, messages, texts: () => messages.map((m) => m.getString()) };
}

/** Tells every node how to reach the others (what discovery does in a full stack). */
export function introduce(nodes: Node[]): void {
  for (const a of nodes) {
    const physical = a.stack.downEvent(new Event(EventType.GET_LOCAL_PHYSICAL_ADDRESS, undefined) as AnyEvent) as PhysicalAddress | undefined;
    if (physical === undefined) continue;
    for (const b of nodes) {
      if (b !== a) b.stack.downEvent(new Event(EventType.ADD_PHYSICAL_ADDRESS, { address: a.address, physical, name: a.name }));
    }
  }
}

/** A datagram a transport sent. */
export interface SentDatagram {
  dest: Address | null;
  length: number;
  data: Uint8Array;
}

/**
 * Wraps `t`'s sendDatagram to record every datagram it sends (before the network sees it); with
 * `drop`, the datagrams are recorded and go nowhere (a network that loses everything).
 */
export function recordDatagrams(t: Transport, drop = false): SentDatagram[] {
  const sent: SentDatagram[] = [];
  const inner = t as unknown as { sendDatagram(dest: Address | null, data: Uint8Array): void };
  const orig = inner.sendDatagram.bind(t);
  inner.sendDatagram = (dest, data) => {
    sent.push({ dest, length: data.length, data });
    if (!drop) orig(dest, data);
  };
  return sent;
}

