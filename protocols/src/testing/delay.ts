import { type DownResult, type Message, type MessageBatch, Protocol, type PropertyDecls, seededRandom } from '@tsgroups/core';

/**
 * Delays messages: outgoing ones by up to `outDelay` ms, incoming batches by up to `inDelay`.
 * With `constantDelay` false (the default) each delay is random in [0, delay], which also
 * reorders messages, as a real network may.
 */
export class DELAY extends Protocol {
  static override readonly protocolName = 'DELAY';
  static override readonly properties: PropertyDecls = {
    inDelay: { type: 'duration', description: 'Largest delay of incoming messages (ms)' },
    outDelay: { type: 'duration', description: 'Largest delay of outgoing messages (ms)' },
    constantDelay: { type: 'boolean', description: 'Always delay by exactly in_delay/out_delay' },
    seed: { type: 'int', min: 0, description: 'Seed of the random delays (0: unseeded)' },
  };

  inDelay = 0;
  outDelay = 0;
  constantDelay = false;
  seed = 0;
  private random: () => number = Math.random;
  private running = false;

  override init(): void {
    if (this.seed !== 0) this.random = seededRandom(this.seed);
  }
  override start(): void {
    this.running = true;
  }
  override stop(): void {
    this.running = false;
  }

  override down(msg: Message): DownResult {
    const d = this.delay(this.outDelay);
    if (d <= 0) return this.downProt.down(msg);
    this.timer.schedule(d, () => {
      if (this.running) void this.downProt.down(msg);
    });
  }

  override up(msg: Message): void {
    const d = this.delay(this.inDelay);
    if (d <= 0) return this.upProt.up(msg);
    this.timer.schedule(d, () => {
      if (this.running) this.upProt.up(msg);
    });
  }

  override upBatch(batch: MessageBatch): void {
    const d = this.delay(this.inDelay);
    if (d <= 0) return this.upProt.upBatch(batch);
    this.timer.schedule(d, () => {
      if (this.running) this.upProt.upBatch(batch);
    });
  }

  private delay(max: number): number {
    if (max <= 0) return 0;
    return this.constantDelay ? max : Math.floor(this.random() * (max + 1));
  }
}
