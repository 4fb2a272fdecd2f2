import { type Message, type MessageBatch, Protocol } from 'tsgroups';

/** Placed above a protocol under test: counts the batches and single messages that come up from it. */
export class BatchCounter extends Protocol {
  batches = 0;
  inBatches = 0;
  singles = 0;
  override up(msg: Message): void {
    this.singles++;
    super.up(msg);
  }
  override upBatch(batch: MessageBatch): void {
    this.batches++;
    this.inBatches += batch.size();
    this.upProt.upBatch(batch);
  }
}
