import type { Readable } from 'node:stream';
import {
  AbortError,
  type Address,
  type AnyEvent,
  Digest,
  type DownResult,
  Event,
  EventType,
  Flag,
  Message,
  type MessageBatch,
  Protocol,
  type PropertyDecls,
  type ScheduledTask,
  type StateRequest,
  TimeoutError,
  TsgroupsError,
  type ErrorCode,
  type View,
} from '@tsgroups/core';
import { ProtocolId } from '../ids.js';
import { NAKACK2, type NakAckHeader } from '../reliable/nakack2.js';
import { IncomingState } from './incoming-state.js';
import { OutgoingState } from './outgoing-state.js';
import { decodeStateDigest, encodeStateDigest } from './state-digest.js';
import { type StateHeader, stateHeaderCodec, StateMsg } from './state-header.js';

const ID = ProtocolId.STATE_TRANSFER;
const NAKACK2_ID = ProtocolId.NAKACK2;
/** How often a provider looks whether it has caught up with the requester before its snapshot. */
const CATCH_UP_POLL_MS = 5;
/** How long a provider waits to catch up when the requester set no timeout. */
const CATCH_UP_LIMIT_MS = 60_000;
const MAX_UINT32 = 0xffff_ffff;

/**
 * State transfer, as JGroups' STATE_TRANSFER and STATE: `Channel.getState(target, timeout)`
 * fetches the application state from another member, streamed in chunks over reliable unicast.
 *
 * Consistency with the message stream (no update lost, none applied twice), without a flush:
 * - the requester sends its NAKACK2 digest with the request and from then on holds the
 *   multicasts coming up (its application sees none until the state is set);
 * - the provider waits until it has delivered at least what the requester had, then, in one
 *   synchronous step, closes BARRIER (below NAKACK2: multicasts stop being delivered), takes its
 *   digest and calls the application's getState; the barrier opens when getState returns (its
 *   Promise settles), so the state is exactly the one after the digest's messages;
 * - the requester, once setState is done, passes on the held multicasts and every later one
 *   whose seqno is above the snapshot's digest, and drops those at or below it (in the state).
 *
 * Failures reject the requester's getState with a stable code and leave the provider healthy:
 * no other member or no getState at the provider (`ERR_STATE_NO_PROVIDER`), the provider's
 * getState threw or the provider left (`ERR_STATE_PROVIDER_FAILED`), a target that is not
 * another member (`ERR_STATE_BAD_TARGET`), setState threw (`ERR_STATE_SET_FAILED`), timeout
 * (`ERR_TIMEOUT`), abort (`ERR_ABORTED`); the provider is told to stop.
 */
export class STATE_TRANSFER extends Protocol {
  static override readonly protocolName = 'STATE_TRANSFER';
  static override readonly id = ID;
  static override readonly headerCodec = stateHeaderCodec;
  static override readonly provides: readonly string[] = ['state-transfer'];
  static override readonly requiresBelow: readonly string[] = ['barrier', 'reliable-multicast', 'reliable-unicast'];
  static override readonly properties: PropertyDecls = {
    chunkSize: { type: 'size', min: 1024, description: 'Most state bytes in one message' },
    windowSize: { type: 'size', min: 1024, description: 'Most state bytes the provider sends ahead of what the requester took' },
  };

  chunkSize = 64 * 1024;
  windowSize = 4 * 1024 * 1024;

  private view: View | null = null;
  private nextTransfer = 0;
  /** The transfer this member requested, if one is under way. */
  private incoming: IncomingState | null = null;
  /** Multicasts held while our own transfer is under way. */
  private holding: Message[] | null = null;
  /** After a transfer: per sender, the highest seqno the state contains (dropped when it comes). */
  private filter: Map<Address, number> | null = null;
  /** Transfers this member provides (or prepares), by requester and number. */
  private readonly outgoing = new Map<string, OutgoingState | null>();
  /** NAKACK2 below us: its digest's own entry is what we sent, we need what came back. */
  private nakack2: NAKACK2 | undefined;

  readonly stats = {
    requested: 0,
    received: 0,
    failed: 0,
    provided: 0,
    bytesReceived: 0,
    chunksReceived: 0,
    bytesSent: 0,
    /** Multicasts held during our transfers. */
    held: 0,
    /** Multicasts dropped after a transfer because the state contained them. */
    dropped: 0,
  };

  override init(): void {
    this.nakack2 = this.stack.findProtocol(NAKACK2);
  }

  override stop(): void {
    this.incoming?.fail(new TsgroupsError('ERR_CHANNEL_NOT_CONNECTED', 'getState: the channel disconnected during the transfer'), false);
    for (const s of this.outgoing.values()) s?.stop();
    this.outgoing.clear();
    // Leaving: what was held concerns nobody any more.
    this.holding = null;
    this.filter = null;
    this.view = null;
  }

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }

  // ---- events ----
  override downEvent(evt: AnyEvent): unknown {
    if (evt.type === EventType.GET_STATE) return this.request(evt.arg);
    return super.downEvent(evt);
  }

  protected override viewChanged(view: View): void {
    this.view = view;
    const inc = this.incoming;
    if (inc !== null && !view.containsMember(inc.provider)) {
      this.failIncoming(inc, new TsgroupsError('ERR_STATE_PROVIDER_FAILED', `getState: the provider ${inc.provider} left during the transfer`), false);
    }
    for (const [key, s] of this.outgoing) {
      if (s !== null && !view.containsMember(s.requester)) {
        s.stop();
        this.outgoing.delete(key);
      }
    }
    if (this.filter !== null) {
      for (const m of this.filter.keys()) if (!view.containsMember(m)) this.filter.delete(m);
      if (this.filter.size === 0) this.filter = null;
    }
  }

  // ---- the up path: our messages, held multicasts, filtered ones ----
  override up(msg: Message): void {
    const h = msg.getHeader<StateHeader>(ID);
    if (h !== undefined) return this.handleOwnMessage(msg, h);
    if (msg.dest === null && !this.admit(msg)) return;
    this.upProt.up(msg);
  }

  override upBatch(batch: MessageBatch): void {
    if (this.holding === null && this.filter === null) return this.passUpBatch(batch);
    batch.removeIf(this.takeOrHold);
    if (!batch.isEmpty()) this.upProt.upBatch(batch);
  }

  private readonly takeOrHold = (msg: Message): boolean => {
    const h = msg.getHeader<StateHeader>(ID);
    if (h !== undefined) {
      this.handleOwnMessage(msg, h);
      return true;
    }
    return msg.dest === null && !this.admit(msg);
  };

  /** Whether a multicast goes up now: not while held, nor if the state we set contains it. */
  private admit(msg: Message): boolean {
    if (this.holding !== null) {
      this.holding.push(msg);
      this.stats.held++;
      return false;
    }
    return this.passesFilter(msg);
  }

  private passesFilter(msg: Message): boolean {
    const f = this.filter;
    if (f === null || msg.src === null) return true;
    const limit = f.get(msg.src);
    if (limit === undefined) return true;
    const h = msg.getHeader<NakAckHeader>(NAKACK2_ID);
    if (h === undefined) return true;
    if (h.seqno <= limit) {
      // Not delivered again; a request it carries is answered (building blocks, Flag.IN_STATE).
      this.stats.dropped++;
      msg.flags |= Flag.IN_STATE;
      this.upProt.up(msg);
      return false;
    }
    // Regular multicasts come in seqno order: once one is past the limit, every later one is.
    if (!msg.isOOB()) {
      f.delete(msg.src);
      if (f.size === 0) this.filter = null;
    }
    return true;
  }

  protected override handleOwnMessage(msg: Message, header: unknown): void {
    const h = header as StateHeader;
    const src = msg.src;
    if (src === null) return;
    try {
      switch (h.type) {
        case StateMsg.REQ:
          this.onRequest(src, h.transfer, h.value, decodeStateDigest(msg.getPayload()));
          return;
        case StateMsg.ACK:
          this.outgoing.get(key(src, h.transfer))?.onAck(h.value);
          return;
        case StateMsg.CANCEL: {
          const k = key(src, h.transfer);
          this.outgoing.get(k)?.stop();
          this.outgoing.delete(k);
          return;
        }
      }
      const inc = this.incoming;
      if (inc === null || inc.transfer !== h.transfer || inc.provider !== src) return;
      switch (h.type) {
        case StateMsg.BEGIN:
          inc.onBegin(decodeStateDigest(msg.getPayload()), h.value, Math.min(this.windowSize, h.value * this.chunkSize));
          return;
        case StateMsg.CHUNK: {
          const p = msg.getPayload();
          this.stats.chunksReceived++;
          inc.onChunk(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
          return;
        }
        case StateMsg.END:
          inc.onEnd();
          return;
        case StateMsg.ERR: {
          const e = parseError(msg.getPayload());
          this.failIncoming(inc, new TsgroupsError(e.code, e.message), false);
          return;
        }
      }
    } catch (err) {
      this.log.warn(`a malformed state transfer message from ${src} was dropped`, err);
    }
  }

  // ---- the requester ----
  private request(req: StateRequest): Promise<void> {
    const self = this.localAddress;
    const view = this.view;
    if (this.incoming !== null) return Promise.reject(new TsgroupsError('ERR_STATE_BUSY', 'getState: a state transfer is already under way'));
    if (self === null || view === null) return Promise.reject(new TsgroupsError('ERR_CHANNEL_NOT_CONNECTED', 'getState: not connected'));
    let target = req.target;
    if (target === null) {
      target = view.getMembers().find((m) => m !== self) ?? null;
      if (target === null) return Promise.reject(new TsgroupsError('ERR_STATE_NO_PROVIDER', 'getState: no other member to fetch the state from'));
    } else if (target === self) {
      return Promise.reject(new TsgroupsError('ERR_STATE_BAD_TARGET', 'getState: the target is this member itself'));
    } else if (!view.containsMember(target)) {
      return Promise.reject(new TsgroupsError('ERR_STATE_BAD_TARGET', `getState: ${target} is not a member of the view ${view.getViewId()}`));
    }
    const provider = target;
    const transfer = ++this.nextTransfer;
    const mine = this.ask(new Event(EventType.GET_DIGEST)) ?? new Digest();
    this.stats.requested++;
    if (this.holding === null) this.holding = [];
    const inc = new IncomingState(transfer, provider, {
      send: (type, value) => void this.sendTo(provider, type, transfer, value),
      setState: (input: Readable) => this.upProt.upEvent(new Event(EventType.SET_APPLSTATE, input)) as Promise<unknown> | undefined,
    });
    this.incoming = inc;
    const { timeout, signal } = req;
    let timer: ScheduledTask | null = null;
    if (timeout > 0) {
      timer = this.timer.schedule(timeout, () =>
        this.failIncoming(inc, new TimeoutError(`getState: no complete state from ${provider} within ${timeout} ms`), true),
      );
    }
    const onAbort = (): void => this.failIncoming(inc, new AbortError('getState aborted', signal?.reason), true);
    signal?.addEventListener('abort', onAbort, { once: true });
    void this.sendTo(provider, StateMsg.REQ, transfer, Math.min(timeout, MAX_UINT32), encodeStateDigest(mine));
    const cleanup = (): void => {
      timer?.cancel();
      signal?.removeEventListener('abort', onAbort);
      if (this.incoming === inc) this.incoming = null;
    };
    return inc.done.then(
      (digest) => {
        cleanup();
        this.stats.received++;
        this.stats.bytesReceived += inc.bytes;
        this.releaseHeld(digest);
      },
      (err: unknown) => {
        cleanup();
        this.stats.failed++;
        this.releaseHeld(null);
        throw err;
      },
    );
  }

  private failIncoming(inc: IncomingState, err: Error, cancel: boolean): void {
    inc.fail(err, cancel);
  }

  /**
   * Passes the held multicasts up: with the snapshot's `digest`, those it contains are dropped
   * (and later ones until each sender's stream is past it); without (a failed transfer), all.
   */
  private releaseHeld(digest: Digest | null): void {
    const held = this.holding;
    this.holding = null;
    if (digest !== null) {
      const f = new Map<Address, number>();
      for (const [m, r] of digest) if (r.highestDelivered > 0) f.set(m, r.highestDelivered);
      this.filter = f.size > 0 ? f : null;
    }
    if (held === null) return;
    for (let i = 0; i < held.length; i++) {
      // The application may have started another transfer from a message: the rest waits for it.
      if (this.holding !== null) {
        this.holding = held.slice(i).concat(this.holding);
        return;
      }
      const m = held[i]!;
      if (!this.passesFilter(m)) continue;
      try {
        this.upProt.up(m);
      } catch (err) {
        this.log.error(`up(${m}) failed`, err);
      }
    }
  }

  // ---- the provider ----
  private onRequest(requester: Address, transfer: number, timeout: number, theirs: Digest): void {
    const k = key(requester, transfer);
    if (this.outgoing.has(k)) return;
    this.outgoing.set(k, null);
    const deadline = Date.now() + (timeout > 0 ? timeout : CATCH_UP_LIMIT_MS);
    const attempt = (): void => {
      if (!this.outgoing.has(k) || this.view === null) return; // cancelled, or stopped
      if (this.caughtUp(requester, theirs)) return this.provide(requester, transfer, k);
      if (Date.now() > deadline) {
        this.outgoing.delete(k);
        this.sendError(requester, transfer, 'ERR_STATE_PROVIDER_FAILED', `the provider ${this.localAddress} did not catch up with the requester's messages in time`);
        return;
      }
      this.timer.schedule(CATCH_UP_POLL_MS, attempt);
    };
    attempt();
  }

  /** True once we delivered every multicast the requester had delivered when it asked (so the state contains them). */
  private caughtUp(requester: Address, theirs: Digest): boolean {
    if (this.view === null || !this.view.containsMember(requester)) return false;
    const self = this.localAddress;
    const mine = this.ask(new Event(EventType.GET_DIGEST));
    for (const [m, r] of theirs) {
      const have = m === self ? this.ownDelivered() : mine?.get(m)?.highestDelivered;
      if (have !== undefined && have < r.highestDelivered) return false;
    }
    return true;
  }

  /** Closes the barrier, takes the digest and calls getState, in one synchronous step. */
  private provide(requester: Address, transfer: number, k: string): void {
    this.ask(new Event(EventType.CLOSE_BARRIER));
    const digest = this.ask(new Event(EventType.GET_DIGEST)) ?? new Digest();
    const self = this.localAddress;
    if (self !== null && digest.contains(self)) digest.set(self, this.ownDelivered());
    const window = Math.max(1, Math.floor(this.windowSize / this.chunkSize));
    const session = new OutgoingState(requester, transfer, digest, this.chunkSize, window, {
      send: (type, value, payload) => this.sendTo(requester, type, transfer, value, payload),
      openBarrier: () => this.ask(new Event(EventType.OPEN_BARRIER)),
    });
    this.outgoing.set(k, session);
    let result: Promise<unknown> | undefined;
    try {
      result = this.upProt.upEvent(new Event(EventType.GET_APPLSTATE, session.output)) as Promise<unknown> | undefined;
    } catch (err) {
      result = Promise.reject(err);
    }
    if (result === undefined) {
      session.stop();
      this.outgoing.delete(k);
      this.sendError(requester, transfer, 'ERR_STATE_NO_PROVIDER', `the member ${self} has no getState (no receiver, or a receiver without getState)`);
      return;
    }
    result.then(
      (bytes) => {
        // The snapshot is taken (returned bytes are the snapshot): updates may flow again.
        session.openBarrier();
        if (session.isStopped) return;
        const out = session.output;
        if (bytes instanceof Uint8Array && !out.writableEnded) out.write(bytes);
        session.ensureBegun();
        if (!out.writableEnded) out.end();
        out.once('finish', () => {
          if (this.outgoing.get(k) === session) this.outgoing.delete(k);
          this.stats.provided++;
          this.stats.bytesSent += session.bytes;
        });
      },
      (err: unknown) => {
        session.stop();
        if (this.outgoing.get(k) === session) this.outgoing.delete(k);
        const msg = err instanceof Error ? err.message : String(err);
        this.log.warn(`getState for ${requester} threw`, err);
        this.sendError(requester, transfer, 'ERR_STATE_PROVIDER_FAILED', `the provider's getState threw: ${msg}`);
      },
    );
  }

  private ownDelivered(): number {
    return this.nakack2?.ownHighestDelivered() ?? 0;
  }

  private sendError(to: Address, transfer: number, code: ErrorCode, message: string): void {
    void this.sendTo(to, StateMsg.ERR, transfer, 0, new TextEncoder().encode(JSON.stringify({ code, message })));
  }

  private sendTo(to: Address, type: number, transfer: number, value: number, payload?: Uint8Array): DownResult {
    const msg = new Message(to);
    msg.src = this.localAddress;
    msg.putHeader(ID, { type, transfer, value } satisfies StateHeader);
    if (payload !== undefined) msg.setArray(payload);
    try {
      const r = this.downProt.down(msg);
      // Nobody awaits control messages: a failure (the channel closing) is only logged.
      if (r !== undefined && type !== StateMsg.CHUNK && type !== StateMsg.END) {
        r.catch((err: unknown) => this.log.debug(`sending a state transfer message failed: ${String(err)}`));
      }
      return r;
    } catch (err) {
      if (type === StateMsg.CHUNK || type === StateMsg.END) return Promise.reject(err);
      this.log.debug(`sending a state transfer message failed: ${String(err)}`);
      return undefined;
    }
  }
}

function key(a: Address, transfer: number): string {
  return `${Buffer.from(a.bytes).toString('hex')}#${transfer}`;
}

function parseError(bytes: Uint8Array): { code: ErrorCode; message: string } {
  try {
    const o = JSON.parse(new TextDecoder().decode(bytes)) as { code?: unknown; message?: unknown };
    const code = typeof o.code === 'string' && o.code.startsWith('ERR_STATE_') ? (o.code as ErrorCode) : 'ERR_STATE_PROVIDER_FAILED';
    return { code, message: `getState: ${typeof o.message === 'string' ? o.message : 'the provider failed'}` };
  } catch {
    return { code: 'ERR_STATE_PROVIDER_FAILED', message: 'getState: the provider failed' };
  }
}
