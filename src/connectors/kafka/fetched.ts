/**
 * Fetched records waiting to be handed out, in fetch order: the buffer of
 * `kafkaSource` and of each partition task of a Kafka application
 * (deploy/kafka/task.ts), one implementation for both (issue 13).
 *
 * An array with a read index rather than `Array.shift` (which moves every
 * element) or a linked list (an object per record): taking is an index
 * step, and the taken front is dropped once it is most of the array, so
 * memory stays within about twice what is waiting.
 *
 * @example
 * ```ts
 * const q = new FetchedRecords();
 * q.push(message);
 * if (q.size > 0) handle(q.take()!);
 * ```
 */

/** A fetched record: the fields of the client's `Message` that eddy reads. */
export interface FetchedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly timestamp: bigint;
  readonly leaderEpoch: number;
  readonly key?: Buffer | undefined;
  readonly value?: Buffer | undefined;
  /** Read-only: records without headers share one empty map (fast-reads.ts). */
  readonly headers?: ReadonlyMap<Buffer, Buffer> | undefined;
}

type Fetched = FetchedMessage;

/** Taken records are dropped from the front once more than this many are there and they are most of the array. */
const COMPACT_AFTER = 4096;

export class FetchedRecords {
  #items: Fetched[] = [];
  #head = 0;

  /** How many records wait. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  push(m: Fetched): void {
    this.#items.push(m);
  }

  /** The next record, left waiting. */
  peek(): Fetched | undefined {
    return this.#items[this.#head];
  }

  /** Takes the next record. */
  take(): Fetched | undefined {
    return this.#head < this.#items.length ? this.#items[this.#head++] : undefined;
  }

  /** The next `n` records (fewer if fewer wait), left waiting. */
  peekMany(n: number): Fetched[] {
    return this.#items.slice(this.#head, this.#head + n);
  }

  /** Takes the next `n` records (fewer if fewer wait). */
  takeMany(n: number): Fetched[] {
    const out = this.peekMany(n);
    this.#head += out.length;
    return out;
  }

  /** Drops the taken front once it is most of the array (call after taking a batch). */
  compact(): void {
    if (this.#head > COMPACT_AFTER && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
