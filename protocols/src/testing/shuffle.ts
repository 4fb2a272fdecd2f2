import { type DownResult, type Message, type MessageBatch, Protocol, type PropertyDecls, seededRandom } from '@tsgroups/core';

/**
 * Reorders messages: collects up to `maxSize` messages (or what arrives within `maxTime` ms),
 * shuffles them and passes them on one by one. Applies to incoming (`up`) and/or outgoing
 * (`down`) traffic.
 */
export class SHUFFLE extends Protocol {
  static override readonly protocolName = 'SHUFFLE';
  static override readonly properties: PropertyDecls = {
    up: { type: 'boolean', field: 'shuffleUp', description: 'Reorder incoming messages' },
    down: { type: 'boolean', field: 'shuffleDown', description: 'Reorder outgoing messages' },
    maxSize: { type: 'int', min: 1, description: 'Messages collected before a shuffle' },
    maxTime: { type: 'duration', min: 1, description: 'Longest a message waits to be shuffled (ms)' },
    seed: { type: 'int', min: 0, description: 'Seed of the shuffles (0: unseeded)' },
  };

  shuffleUp = true;
  shuffleDown = false;
  maxSize = 10;
  maxTime = 5;
  seed = 0;

  private random: () => number = Math.random;
  private upQueue: Message[] = [];
  private downQueue: Message[] = [];
  private upFlushPending = false;
  private downFlushPending = false;
  private running = false;
  readonly stats = { shuffledUp: 0, shuffledDown: 0 };

  override init(): void {
    if (this.seed !== 0) this.random = seededRandom(this.seed);
  }
  override start(): void {
    this.running = true;
  }
  override stop(): void {
    this.running = false;
    this.upQueue = [];
    this.downQueue = [];
  }

  override down(msg: Message): DownResult {
    if (!this.shuffleDown) return this.downProt.down(msg);
    this.downQueue.push(msg);
    if (this.downQueue.length >= this.maxSize) this.flushDown();
    else if (!this.downFlushPending) {
      this.downFlushPending = true;
      this.timer.schedule(this.maxTime, () => this.flushDown());
    }
  }

  override up(msg: Message): void {
    if (!this.shuffleUp) return this.upProt.up(msg);
    this.addUp(msg);
  }

  override upBatch(batch: MessageBatch): void {
    if (!this.shuffleUp) return this.upProt.upBatch(batch);
    batch.forEach((m) => this.addUp(m));
  }

  private addUp(msg: Message): void {
    this.upQueue.push(msg);
    if (this.upQueue.length >= this.maxSize) this.flushUp();
    else if (!this.upFlushPending) {
      this.upFlushPending = true;
      this.timer.schedule(this.maxTime, () => this.flushUp());
    }
  }

  private flushUp(): void {
    this.upFlushPending = false;
    const q = this.shuffle(this.upQueue);
    this.upQueue = [];
    if (!this.running) return;
    this.stats.shuffledUp += q.length;
    for (const m of q) this.upProt.up(m);
  }

  private flushDown(): void {
    this.downFlushPending = false;
    const q = this.shuffle(this.downQueue);
    this.downQueue = [];
    if (!this.running) return;
    this.stats.shuffledDown += q.length;
    for (const m of q) void this.downProt.down(m);
  }

  private shuffle(q: Message[]): Message[] {
    for (let i = q.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [q[i], q[j]] = [q[j]!, q[i]!];
    }
    return q;
  }

  override getStats(): Record<string, number> {
    return { ...this.stats };
  }
}
