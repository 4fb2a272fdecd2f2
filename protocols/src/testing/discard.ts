import { type Address, type DownResult, type Message, type MessageBatch, Protocol, type PropertyDecls, seededRandom } from '@tsgroups/core';

/**
 * Drops messages on purpose, to prove that retransmission, failure detection and merging work:
 * a fraction of all traffic (`up`, `down`), everything (`discardAll`), or everything from or to
 * given members (partitions). Messages from a member to itself are never dropped unless
 * `excludeItself` is false.
 */
export class DISCARD extends Protocol {
  static override readonly protocolName = 'DISCARD';
  static override readonly properties: PropertyDecls = {
    up: { type: 'number', field: 'upRate', min: 0, max: 1, description: 'Fraction of incoming messages dropped' },
    down: { type: 'number', field: 'downRate', min: 0, max: 1, description: 'Fraction of outgoing messages dropped' },
    discardAll: { type: 'boolean', description: 'Drop all traffic in both directions' },
    excludeItself: { type: 'boolean', description: 'Never drop messages from this member to itself' },
    seed: { type: 'int', min: 0, description: 'Seed of the random drops (0: unseeded)' },
  };

  upRate = 0;
  downRate = 0;
  discardAll = false;
  excludeItself = true;
  seed = 0;

  private random: () => number = Math.random;
  private readonly ignoredFrom = new Set<Address>();
  private readonly ignoredTo = new Set<Address>();
  readonly stats = { droppedUp: 0, droppedDown: 0 };

  override init(): void {
    if (this.seed !== 0) this.random = seededRandom(this.seed);
  }

  /** Re-seeds the random drops. */
  setSeed(seed: number): this {
    this.seed = seed;
    this.random = seed === 0 ? Math.random : seededRandom(seed);
    return this;
  }
  setUpDiscardRate(rate: number): this {
    return this.setValue('up', rate);
  }
  setDownDiscardRate(rate: number): this {
    return this.setValue('down', rate);
  }
  setDiscardAll(flag: boolean): this {
    this.discardAll = flag;
    return this;
  }
  /** Drops everything that arrives from these members. */
  addIgnoreMember(...members: Address[]): this {
    for (const m of members) this.ignoredFrom.add(m);
    return this;
  }
  removeIgnoreMember(...members: Address[]): this {
    for (const m of members) this.ignoredFrom.delete(m);
    return this;
  }
  /** Drops everything sent to these members (unicasts only; combine with addIgnoreMember on the others). */
  addDropTo(...members: Address[]): this {
    for (const m of members) this.ignoredTo.add(m);
    return this;
  }
  /**
   * Cuts this member off from `members` in both directions for what it receives and what it
   * unicasts. For a clean partition, call it on each side (see `partition` in the test helpers).
   */
  isolateFrom(...members: Address[]): this {
    return this.addIgnoreMember(...members).addDropTo(...members);
  }
  /** Clears every member-based rule and the discard-all switch (rates stay). */
  heal(): this {
    this.ignoredFrom.clear();
    this.ignoredTo.clear();
    this.discardAll = false;
    return this;
  }

  override down(msg: Message): DownResult {
    const self = this.localAddress;
    const toSelf = msg.dest !== null && msg.dest === self;
    if (!(toSelf && this.excludeItself)) {
      if (this.discardAll || (msg.dest !== null && this.ignoredTo.has(msg.dest)) || (this.downRate > 0 && this.random() < this.downRate)) {
        this.stats.droppedDown++;
        return;
      }
    }
    return this.downProt.down(msg);
  }

  override up(msg: Message): void {
    if (this.dropUp(msg.src)) {
      this.stats.droppedUp++;
      return;
    }
    this.upProt.up(msg);
  }

  override upBatch(batch: MessageBatch): void {
    const sender = batch.sender;
    if (sender === this.localAddress && this.excludeItself) {
      this.upProt.upBatch(batch);
      return;
    }
    if (this.discardAll || this.ignoredFrom.has(sender)) {
      this.stats.droppedUp += batch.size();
      return;
    }
    if (this.upRate > 0) this.stats.droppedUp += batch.removeIf(() => this.random() < this.upRate);
    if (!batch.isEmpty()) this.upProt.upBatch(batch);
  }

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }

  private dropUp(src: Address | null): boolean {
    if (src !== null && src === this.localAddress && this.excludeItself) return false;
    if (this.discardAll || (src !== null && this.ignoredFrom.has(src))) return true;
    return this.upRate > 0 && this.random() < this.upRate;
  }
}
