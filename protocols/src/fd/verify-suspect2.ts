import {
  type Address,
  type AnyEvent,
  Event,
  EventType,
  Flag,
  Message,
  type PropertyDecls,
  Protocol,
  type View,
} from '@tsgroups/core';
import { tsgroups } from '../generated/headers.js';
import { ProtocolId } from '../ids.js';

const VerifySuspectHeader = tsgroups.protocols.VerifySuspectHeader;
const T = VerifySuspectHeader.Type;
type Header = tsgroups.protocols.VerifySuspectHeader.$Properties;

const ARE_YOU_DEAD: Header = Object.freeze({ type: T.ARE_YOU_DEAD });
const I_AM_NOT_DEAD: Header = Object.freeze({ type: T.I_AM_NOT_DEAD });

/**
 * Double-checks suspicions, after JGroups' VERIFY_SUSPECT2. It sits above the failure
 * detector and intercepts `SUSPECT`: each suspected member not already being verified is sent
 * an ARE_YOU_DEAD unicast and has `timeout` to answer I_AM_NOT_DEAD. An answer drops the
 * suspicion (and `UNSUSPECT` goes down, so the failure detector clears it, and up); the
 * members that did not answer in time go up in one `SUSPECT` event.
 */
export class VERIFY_SUSPECT2 extends Protocol {
  static override readonly protocolName = 'VERIFY_SUSPECT2';
  static override readonly id = ProtocolId.VERIFY_SUSPECT;
  static override readonly headerCodec = VerifySuspectHeader;
  static override readonly requiresBelow: readonly string[] = ['failure-detection'];
  static override readonly properties: PropertyDecls = {
    timeout: { type: 'duration', min: 1, description: 'How long a suspected member has to answer ARE_YOU_DEAD' },
    numMsgs: { type: 'int', min: 1, description: 'How many ARE_YOU_DEAD messages are sent to each suspected member' },
  };

  timeout = 1000;
  numMsgs = 1;

  /** Members being verified -> when their time to answer runs out (`performance.now()`). */
  private readonly verifying = new Map<Address, number>();
  private view: View | null = null;
  private running = false;
  readonly stats = {
    verificationsStarted: 0,
    suspicionsCleared: 0,
    suspicionsConfirmed: 0,
    areYouDeadSent: 0,
    areYouDeadReceived: 0,
    iAmNotDeadReceived: 0,
  };

  override start(): void {
    this.running = true;
  }

  override stop(): void {
    this.running = false;
    this.verifying.clear();
    this.view = null;
  }

  override getStats(): Record<string, number> {
    return { ...this.stats, verifying: this.verifying.size };
  }

  /** The members whose suspicion is being verified (for monitoring and tests). */
  getVerifying(): Address[] {
    return [...this.verifying.keys()];
  }

  override upEvent(evt: AnyEvent): unknown {
    if (evt.type !== EventType.SUSPECT) return this.upProt.upEvent(evt);
    this.verify(evt.arg);
    return undefined;
  }

  override downEvent(evt: AnyEvent): unknown {
    switch (evt.type) {
      case EventType.VIEW_CHANGE: {
        const view = evt.arg;
        this.view = view;
        // Members that left the view need no verdict any more.
        for (const a of this.verifying.keys()) if (!view.containsMember(a)) this.verifying.delete(a);
        break;
      }
      case EventType.DISCONNECT:
        this.verifying.clear();
        this.view = null;
        break;
    }
    return this.downProt.downEvent(evt);
  }


  protected override handleOwnMessage(msg: Message, header: unknown): void {
    const h = header as Header;
    const from = msg.src;
    if (from === null) return;
    switch (h.type) {
      case T.ARE_YOU_DEAD:
        this.stats.areYouDeadReceived++;
        this.send(from, I_AM_NOT_DEAD);
        break;
      case T.I_AM_NOT_DEAD:
        this.stats.iAmNotDeadReceived++;
        this.unsuspect(from);
        break;
    }
  }

  private verify(suspects: readonly Address[]): void {
    if (!this.running) return;
    const self = this.localAddress;
    const deadline = performance.now() + this.timeout;
    let started = 0;
    for (const a of suspects) {
      if (a === self || this.verifying.has(a)) continue;
      if (this.view !== null && !this.view.containsMember(a)) continue;
      this.verifying.set(a, deadline);
      this.stats.verificationsStarted++;
      started++;
      for (let i = 0; i < this.numMsgs; i++) this.send(a, ARE_YOU_DEAD);
      this.stats.areYouDeadSent += this.numMsgs;
    }
    // Those started together share a deadline: one timer decides for all of them.
    if (started > 0) this.timer.schedule(this.timeout, this.onTimeout);
  }

  private readonly onTimeout = (): void => {
    if (!this.running || this.verifying.size === 0) return;
    const now = performance.now();
    let dead: Address[] | null = null;
    for (const [a, deadline] of this.verifying) {
      // The scheduler may run a task up to 1 ms early.
      if (deadline <= now + 1) {
        this.verifying.delete(a);
        (dead ??= []).push(a);
      }
    }
    if (dead === null) return;
    this.stats.suspicionsConfirmed += dead.length;
    this.log.debug(`${this.localAddress}: no answer within ${this.timeout} ms from ${dead.join(', ')}; suspecting`);
    this.upProt.upEvent(new Event(EventType.SUSPECT, dead));
  };

  private unsuspect(member: Address): void {
    if (!this.verifying.delete(member)) return;
    this.stats.suspicionsCleared++;
    this.log.debug(`${this.localAddress}: ${member} answered; suspicion dropped`);
    const evt = new Event(EventType.UNSUSPECT, member);
    this.downProt.downEvent(evt);
    this.upProt.upEvent(evt);
  }

  private send(dest: Address, h: Header): void {
    const msg = new Message(dest).setFlag(Flag.OOB).putHeader(ProtocolId.VERIFY_SUSPECT, h);
    try {
      void this.downProt.down(msg);
    } catch (err) {
      this.log.warn(`sending to ${dest} failed`, err);
    }
  }
}
