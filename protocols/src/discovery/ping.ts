import {
  Address,
  ConfigError,
  Event,
  EventType,
  Flag,
  Message,
  NameCache,
  PhysicalAddress,
  type ProtocolStack,
  type PropertyDecls,
  type ScheduledTask,
  ViewId,
  RateLimitedLog,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';
import { Transport } from '../transport/transport.js';
import { UDP } from '../transport/udp.js';
import { Discovery } from './discovery.js';
import type { FindMembersRequest, PingData } from './ping-data.js';
import { SourceRateLimiter } from './source-rate-limiter.js';

/** The longest logical name taken from the wire (characters); a message with a longer one is dropped (`droppedOversize`). */
export const MAX_WIRE_NAME = 256;
/** The longest `host:port` string taken from the wire. */
const MAX_WIRE_PHYSICAL = 64;

const PingHeader = tsgroups.protocols.PingHeader;
const T = PingHeader.Type;
type Header = tsgroups.protocols.PingHeader.$Properties;
type WirePingData = tsgroups.protocols.PingData.$Properties;

/** One discovery round waiting for responses. */
interface Round {
  req: FindMembersRequest;
  found: Map<Address, PingData>;
  timer: ScheduledTask | null;
  /** Sends the request again, spread over the round (num_discovery_runs); null once all are sent. */
  resend: ScheduledTask | null;
  resolve(list: PingData[]): void;
}

/**
 * Discovery by multicast, as JGroups' PING: a member looking for the others multicasts a
 * GET_MBRS_REQ with its own data (address, name, physical address, view); every member that
 * receives it learns the requester's physical address and answers with a unicast GET_MBRS_RSP
 * carrying its own data. The round ends after `timeout`, or earlier once a coordinator answered
 * (`breakOnCoord`) or enough members did (`numMembers`). Within a round the request is sent
 * `numDiscoveryRuns` times, spread evenly over the timeout, so that one lost request or response
 * does not hide a member (JGroups' num_discovery_runs).
 *
 * Physical addresses are passed down to the transport (ADD_PHYSICAL_ADDRESS) before a response
 * is added to the round, so the transport can reach every member the round returns. A request
 * that arrives while this member runs a round of its own counts as a response too: members that
 * start at the same moment then see each other even if one's request reached the other before
 * its socket was open.
 *
 * Against spoofing (issue 12), without encryption:
 * - the physical address learned for a requester (or responder) is the *source* of its datagram
 *   (the transport's {@link Transport.datagramSource}), not the one its data claims: behind NAT
 *   that is the NAT's external address, which is what can be answered anyway. The response goes
 *   to that address (the transport's table), so a forged request naming another host:port makes
 *   no reply go there (no reflection); the transport keeps a view member's verified address
 *   whatever a request or response claims (no poisoning). Where the transport cannot tell the
 *   source (SHARED_LOOPBACK, a protocol that holds messages back between them), the claim is used.
 * - responses are limited per requester source (`max_rsps_per_source` per `rsp_limit_interval`);
 *   a request over the limit is dropped whole (nothing learned), counted in `rspsLimited`;
 * - names longer than 256 characters (and other oversized fields) drop the message
 *   (`droppedOversize`); a known member's name is not overwritten by what a message claims.
 */
export class PING extends Discovery {
  static override readonly protocolName: string = 'PING';
  static override readonly id: number = ProtocolId.PING;
  static override readonly headerCodec = PingHeader;
  static override readonly properties: PropertyDecls = {
    numDiscoveryRuns: {
      type: 'int',
      min: 1,
      description: 'How many times a discovery round sends its request, spread evenly over the round\'s timeout',
    },
    maxRspsPerSource: {
      type: 'int',
      min: 1,
      description: 'Responses sent at most per requester source (host:port) per rsp_limit_interval; more requests are dropped (rspsLimited)',
    },
    rspLimitInterval: { type: 'duration', min: 1, description: 'The interval of max_rsps_per_source' },
  };

  numDiscoveryRuns = 3;
  maxRspsPerSource = 20;
  rspLimitInterval = 1000;

  private readonly limiter = new SourceRateLimiter();

  private readonly rounds = new Set<Round>();

  readonly stats = {
    requestsSent: 0,
    requestsReceived: 0,
    responsesSent: 0,
    responsesReceived: 0,
    malformed: 0,
    /** Requests dropped unanswered: over max_rsps_per_source. */
    rspsLimited: 0,
    /** Messages dropped for a name or address longer than allowed. */
    droppedOversize: 0,
    /** Messages whose data named another member than the one that sent them. */
    droppedForged: 0,
    /** Messages whose claimed physical address was not their source (the source was learned instead). */
    physicalNotSource: 0,
  };

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }

  /**
   * PING finds members by IP multicast only (as in JGroups): over UDP with ip_mcast="false" its
   * requests would reach nobody, so such a stack is refused. Subclasses that send their requests
   * elsewhere too (TCPPING's list) are not PING itself and pass.
   */
  override checkConfig(stack: ProtocolStack): void {
    const t = stack.getTransport();
    if (this.constructor === PING && t instanceof UDP && !t.ipMcast) {
      throw new ConfigError(
        'ERR_CONFIG_BAD_VALUE',
        'UDP ip_mcast="false" leaves PING without a way to find members (PING discovers by IP multicast): use TCPPING (initial_hosts) or FILE_PING instead of PING, or ip_mcast="true"',
        { source: stack.source, element: 'UDP', attribute: 'ip_mcast' },
      );
    }
  }

  override selfData(): PingData | undefined {
    const d = super.selfData();
    if (d !== undefined) d.name = NameCache.get(d.address) ?? d.name;
    return d;
  }

  override stop(): void {
    // Rounds under way end with what they found.
    for (const r of [...this.rounds]) this.finish(r);
    this.limiter.clear();
  }

  protected override findMembers(req: FindMembersRequest): Promise<PingData[]> {
    const self = this.selfData();
    if (self === undefined || this.stack.clusterName === null) return Promise.resolve([]);
    return new Promise<PingData[]>((resolve) => {
      const round: Round = { req, found: new Map(), timer: null, resend: null, resolve };
      this.rounds.add(round);
      round.timer = this.timer.schedule(req.timeout, () => {
        round.timer = null;
        this.finish(round);
      });
      const runs = Math.max(1, this.numDiscoveryRuns);
      if (runs > 1) {
        let sent = 1;
        const interval = Math.max(1, Math.floor(req.timeout / runs));
        round.resend = this.timer.scheduleWithFixedDelay(interval, interval, () => {
          if (++sent >= runs) {
            round.resend?.cancel();
            round.resend = null;
          }
          this.sendRequest();
        });
      }
      this.sendRequest();
    });
  }

  /** Multicasts a GET_MBRS_REQ with this member's current data (TCPPING and DNS_PING also send it to their lists: {@link sendRequestTo}). */
  protected sendRequest(): void {
    const self = this.selfData();
    if (self === undefined) return;
    this.stats.requestsSent++;
    this.send(null, T.GET_MBRS_REQ, self);
  }

  /**
   * Sends a GET_MBRS_REQ straight to each physical address (TCPPING's list, DNS_PING's records),
   * for members this one cannot name yet (EventType.SEND_TO_PHYSICAL). Does nothing over a
   * transport that cannot send to a physical address.
   */
  protected sendRequestTo(targets: readonly PhysicalAddress[]): void {
    const self = this.selfData();
    if (self === undefined) return;
    for (const to of targets) {
      const msg = new Message(null)
        .setFlag(Flag.OOB, Flag.DONT_LOOPBACK, Flag.DONT_BUNDLE)
        .putHeader(this.id, { type: T.GET_MBRS_REQ, data: toWire(self) });
      // Down the stack, not straight to the transport: SYM_ENCRYPT below seals it like any message.
      this.downProt.downEvent(new Event(EventType.SEND_TO_PHYSICAL, { to, msg }));
    }
  }

  // ---- internals ----
  protected override handleOwnMessage(msg: Message, header: unknown): void {
    const h = header as Header;
    const self = this.localAddress;
    if (self === null || msg.src === self) return;
    if (h.data && oversized(h.data)) {
      this.stats.droppedOversize++;
      this.logRateLimited('oversize', `dropped a PING message from ${msg.src} with an oversized name or address`);
      return;
    }
    const data = h.data ? fromWire(h.data) : undefined;
    if (data === undefined) {
      this.stats.malformed++;
      this.log.debug(`dropped a PING message without valid data from ${msg.src}`);
      return;
    }
    if (data.address === self) return;
    if (msg.src !== null && data.address !== msg.src) {
      // Our requests and responses always describe their sender: anything else is forged.
      this.stats.droppedForged++;
      this.logRateLimited('forged', `dropped a PING message from ${msg.src} describing another member (${data.address})`);
      return;
    }
    const transport = this.stack.getTransport();
    const source = transport instanceof Transport ? transport.datagramSource(msg.src) : undefined;
    if (source !== undefined && (data.physical === undefined || !samePhysical(data.physical, source))) {
      if (data.physical !== undefined) this.stats.physicalNotSource++;
      data.physical = source;
    }
    switch (h.type) {
      case T.GET_MBRS_REQ: {
        this.stats.requestsReceived++;
        const key = source !== undefined ? source.toString() : data.address.key;
        if (!this.limiter.allow(key, this.maxRspsPerSource, this.rspLimitInterval, Date.now())) {
          this.stats.rspsLimited++;
          this.logRateLimited('limited', `more than max_rsps_per_source (${this.maxRspsPerSource}) requests from ${key} in ${this.rspLimitInterval} ms: dropped unanswered`);
          return;
        }
        this.learn(data);
        const mine = this.selfData();
        if (mine !== undefined) {
          this.stats.responsesSent++;
          this.send(data.address, T.GET_MBRS_RSP, mine);
        }
        // A member that is looking too: it belongs in our rounds (see the class comment).
        for (const r of [...this.rounds]) this.add(r, data);
        break;
      }
      case T.GET_MBRS_RSP:
        this.stats.responsesReceived++;
        // Late responses (after the round ended early) still tell us how to reach the member.
        this.learn(data);
        for (const r of [...this.rounds]) this.add(r, data);
        break;
      default:
        this.stats.malformed++;
    }
  }

  /** Tells the transport how to reach the member, and remembers its name (never renaming a known member). */
  private learn(d: PingData): void {
    if (d.name && NameCache.get(d.address) === undefined) NameCache.add(d.address, d.name);
    if (d.physical) {
      this.downProt.downEvent(new Event(EventType.ADD_PHYSICAL_ADDRESS, { address: d.address, physical: d.physical, name: d.name }));
    }
  }

  private add(round: Round, d: PingData): void {
    if (!this.rounds.has(round)) return;
    round.found.set(d.address, d);
    const { breakOnCoord, numMembers } = round.req;
    if ((breakOnCoord && d.isCoord) || (numMembers !== undefined && numMembers > 0 && round.found.size >= numMembers)) {
      this.finish(round);
    }
  }

  /** Rejections are logged at most once per 10 s per kind (the stats count them all). */
  private readonly rejections = new RateLimitedLog(this.log);

  private logRateLimited(kind: string, text: string): void {
    this.rejections.warn(kind, text);
  }

  private finish(round: Round): void {
    if (!this.rounds.delete(round)) return;
    round.timer?.cancel();
    round.timer = null;
    round.resend?.cancel();
    round.resend = null;
    round.resolve([...round.found.values()]);
  }

  private send(dest: Address | null, type: tsgroups.protocols.PingHeader.Type, d: PingData): void {
    const msg = new Message(dest).setFlag(Flag.OOB, Flag.DONT_LOOPBACK).putHeader(this.id, { type, data: toWire(d) }); // this.id: TCPPING speaks PING under its own id
    try {
      this.downProt.down(msg);
    } catch (err) {
      this.log.warn(`sending a PING ${type === T.GET_MBRS_REQ ? 'request' : 'response'} failed`, err);
    }
  }
}

/** The wire form of a member's discovery data (shared with TCPPING). */
export function toWire(d: PingData): WirePingData {
  const w: WirePingData = { address: d.address.bytes, isCoord: d.isCoord };
  if (d.name) w.name = d.name;
  if (d.physical) w.physical = d.physical.toString();
  if (d.viewId) w.viewId = { creator: d.viewId.creator.bytes, id: d.viewId.id };
  return w;
}

/** Whether a wire form carries a name or address longer than any real member's (name bloat). */
function oversized(w: WirePingData): boolean {
  return (w.name !== null && w.name !== undefined && w.name.length > MAX_WIRE_NAME) ||
    (w.physical !== null && w.physical !== undefined && w.physical.length > MAX_WIRE_PHYSICAL);
}

function samePhysical(a: PhysicalAddress, b: PhysicalAddress): boolean {
  return a.port === b.port && a.host === b.host;
}

/** The data a wire form describes, or undefined if an address is malformed. */
function fromWire(w: WirePingData): PingData | undefined {
  if (!w.address || w.address.length !== 16) return undefined;
  let viewId: ViewId | undefined;
  if (w.viewId) {
    if (!w.viewId.creator || w.viewId.creator.length !== 16) return undefined;
    viewId = new ViewId(Address.fromBytes(w.viewId.creator), Number(w.viewId.id ?? 0));
  }
  return {
    address: Address.fromBytes(w.address),
    name: w.name || undefined,
    isCoord: !!w.isCoord,
    viewId,
    physical: w.physical ? PhysicalAddress.parse(w.physical) : undefined,
  };
}
