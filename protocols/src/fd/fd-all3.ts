import {
  type Address,
  type AnyEvent,
  Event,
  EventType,
  Flag,
  Message,
  type MessageBatch,
  type PropertyDecls,
  Protocol,
  type ProtocolStack,
  type ScheduledTask,
  type View,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';

const FdAllHeader = tsgroups.protocols.FdAllHeader;
type Header = tsgroups.protocols.FdAllHeader.$Properties;

/** Every heartbeat carries this one header object (headers are never mutated once attached). */
const HEARTBEAT: Header = Object.freeze({ type: FdAllHeader.Type.HEARTBEAT });

/** What FD_ALL3 knows of one member of the current view (mutated in place: no allocation per message). */
interface MemberState {
  /** When anything was last received from the member (`performance.now()`). */
  lastSeen: number;
  /** A SUSPECT was passed up for it and it has not been heard from since. */
  suspected: boolean;
}

/**
 * Failure detection by heartbeats, after JGroups' FD_ALL3: every member multicasts a small
 * heartbeat every `interval`, and any message received from a member counts as a heartbeat
 * too. Every `interval` a check finds the members of the view not heard from for `timeout`
 * and passes `SUSPECT` up for them, once per member until it is heard from again (or an
 * `UNSUSPECT` comes down) or it leaves the view.
 *
 * Put VERIFY_SUSPECT2 above it to double-check suspicions before GMS excludes a member.
 */
export class FD_ALL3 extends Protocol {
  static override readonly protocolName = 'FD_ALL3';
  static override readonly id = ProtocolId.FD_ALL;
  static override readonly headerCodec = FdAllHeader;
  static override readonly provides: readonly string[] = ['failure-detection'];
  static override readonly properties: PropertyDecls = {
    interval: { type: 'duration', min: 1, description: 'How often a heartbeat is sent and the timeouts are checked' },
    timeout: { type: 'duration', min: 1, description: 'A member not heard from for this long is suspected (must be above interval)' },
  };

  interval = 8000;
  timeout = 40000;

  /** The members of the current view except this one. */
  private readonly members = new Map<Address, MemberState>();
  private task: ScheduledTask | null = null;
  readonly stats = { heartbeatsSent: 0, heartbeatsReceived: 0, suspicionsRaised: 0, suspicionsCleared: 0, checks: 0 };

  /** A timeout not above the interval would suspect members between two of their heartbeats. */
  override checkConfig(stack: ProtocolStack): void {
    if (this.timeout <= this.interval) {
      throw this.configError(stack, 'timeout', `timeout (${this.timeout} ms) must be above interval (${this.interval} ms): a member sends one heartbeat per interval`);
    }
  }

  override start(): void {
    this.task?.cancel();
    this.task = this.timer.scheduleWithFixedDelay(this.interval, this.interval, this.onInterval);
  }

  override stop(): void {
    this.task?.cancel();
    this.task = null;
    this.members.clear();
  }

  override getStats(): Record<string, number> {
    return { ...this.stats, members: this.members.size };
  }

  /** The members currently suspected (for monitoring and tests). */
  getSuspected(): Address[] {
    const out: Address[] = [];
    for (const [a, s] of this.members) if (s.suspected) out.push(a);
    return out;
  }

  override downEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.VIEW_CHANGE:
        this.setView(evt.arg);
        break;
      case EventType.UNSUSPECT: {
        const s = this.members.get(evt.arg);
        if (s !== undefined) {
          // Heard of through another channel (VERIFY_SUSPECT2): give it a full timeout again.
          s.lastSeen = performance.now();
          if (s.suspected) {
            s.suspected = false;
            this.stats.suspicionsCleared++;
          }
        }
        break;
      }
      case EventType.DISCONNECT:
        this.members.clear();
        break;
    }
    return this.downProt.downEvent(evt);
  }

  /** Any message is a sign of life; a heartbeat is nothing more (see handleOwnMessage). */
  override up(msg: Message): void {
    const src = msg.src;
    if (src !== null) this.heardFrom(src, performance.now());
    super.up(msg);
  }

  override upBatch(batch: MessageBatch): void {
    this.heardFrom(batch.sender, performance.now());
    this.passUpBatch(batch);
  }

  protected override handleOwnMessage(): void {
    this.stats.heartbeatsReceived++;
  }

  private heardFrom(sender: Address, now: number): void {
    const s = this.members.get(sender);
    if (s === undefined) return; // not a member (yet, or any more): nothing to track
    s.lastSeen = now;
    if (s.suspected) {
      s.suspected = false;
      this.stats.suspicionsCleared++;
    }
  }

  private setView(view: View): void {
    const self = this.localAddress;
    const now = performance.now();
    for (const a of this.members.keys()) if (!view.containsMember(a)) this.members.delete(a);
    for (const a of view.members) {
      // A new member gets a full timeout from now.
      if (a !== self && !this.members.has(a)) this.members.set(a, { lastSeen: now, suspected: false });
    }
  }

  private readonly onInterval = (): void => {
    if (this.members.size === 0) return;
    this.sendHeartbeat();
    this.checkTimeouts();
  };

  private sendHeartbeat(): void {
    const msg = new Message(null).setFlag(Flag.OOB, Flag.DONT_LOOPBACK).putHeader(ProtocolId.FD_ALL, HEARTBEAT);
    this.stats.heartbeatsSent++;
    try {
      void this.downProt.down(msg);
    } catch (err) {
      this.log.warn('sending a heartbeat failed', err);
    }
  }

  private checkTimeouts(): void {
    this.stats.checks++;
    const now = performance.now();
    let suspects: Address[] | null = null;
    for (const [a, s] of this.members) {
      if (!s.suspected && now - s.lastSeen >= this.timeout) {
        s.suspected = true;
        (suspects ??= []).push(a);
      }
    }
    if (suspects === null) return;
    this.stats.suspicionsRaised += suspects.length;
    this.log.debug(`${this.localAddress}: suspecting ${suspects.join(', ')} (not heard from for ${this.timeout} ms)`);
    this.upProt.upEvent(new Event(EventType.SUSPECT, suspects));
  }
}
