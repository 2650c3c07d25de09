/**
 * One end of the link between two subtasks in different threads: proxies for
 * the other side's tasks (what exchange edges deliver to), credit-based
 * backpressure, and the handler that delivers what the other side sends.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Batch } from '../../core/batch.ts';
import type { Executor } from '../executor.ts';
import type { ChannelTarget } from '../task.ts';
import { type PeerMessage, packBatch, unpackBatch } from './protocol.ts';

/** Batches in flight on one link before the sending subtask's sources wait. */
const CREDITS = 16;

export class Link {
  readonly #port: MessagePort;
  readonly #executor: Executor;
  #outstanding = 0;
  #waiters: (() => void)[] = [];
  #sent = 0;
  /** Messages received (not counting credit): equal to the other end's `sent` when nothing is in flight. */
  received = 0;
  // Watermarks not posted yet, by consumer and channel: a source loop advances them once per poll,
  // many times per turn of the event loop, and only the last one of a turn needs to cross.
  readonly #watermarks = new Map<string, { c: string; ch: number; w: number }>();
  #flushQueued = false;
  readonly #flush = () => {
    this.#flushQueued = false;
    this.#flushWatermarks();
  };

  constructor(port: MessagePort, executor: Executor) {
    this.#port = port;
    this.#executor = executor;
    port.on('message', (m: PeerMessage) => this.#deliver(m));
  }

  /** Messages sent (not counting credit), watermarks still held back included: they are posted first. */
  get sent(): number {
    this.#flushWatermarks();
    return this.#sent;
  }

  /** A proxy for task `consumer` on the other side of this link. */
  target(consumer: string): ChannelTarget {
    return {
      receive: (batch: Batch, ch: number) => this.#sendBatch(consumer, ch, batch),
      receiveWatermark: (ch, w) => this.#holdWatermark(consumer, ch, w),
      receiveIdle: (ch, idle) => this.#post({ t: 'i', c: consumer, ch, idle }),
      receiveEnd: (ch) => this.#post({ t: 'e', c: consumer, ch }),
    };
  }

  /** Keeps the newest watermark per channel until this turn ends or another message goes first. */
  #holdWatermark(c: string, ch: number, w: number): void {
    const id = `${ch}/${c}`;
    const held = this.#watermarks.get(id);
    if (held === undefined) this.#watermarks.set(id, { c, ch, w });
    else held.w = w;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
  }

  #flushWatermarks(): void {
    if (this.#watermarks.size === 0) return;
    for (const { c, ch, w } of this.#watermarks.values()) {
      this.#sent++;
      this.#port.postMessage({ t: 'w', c, ch, w } satisfies PeerMessage);
    }
    this.#watermarks.clear();
  }

  #post(m: PeerMessage): void {
    // Whatever came before on this link crosses before it: a held watermark precedes a later record.
    this.#flushWatermarks();
    this.#sent++;
    this.#port.postMessage(m);
  }

  #sendBatch(consumer: string, ch: number, batch: Batch): void {
    this.#flushWatermarks();
    const { message, transfer } = packBatch(batch);
    this.#port.postMessage({ t: 'b', c: consumer, ch, p: message } satisfies PeerMessage, transfer);
    this.#sent++;
    if (++this.#outstanding >= CREDITS) {
      // The other side is behind: the sources of this subtask wait until it catches up.
      this.#executor.pushPressure(new Promise((resolve) => this.#waiters.push(resolve)));
    }
  }

  #deliver(m: PeerMessage): void {
    const ex = this.#executor;
    switch (m.t) {
      case 'a':
        this.#outstanding--;
        if (this.#outstanding <= CREDITS / 2 && this.#waiters.length > 0) {
          const waiters = this.#waiters;
          this.#waiters = [];
          for (const w of waiters) w();
        }
        return;
      case 'b': {
        this.received++;
        // Credit goes back once what this batch started downstream has room again.
        const wait = ex.deliver(m.c, unpackBatch(m.p), m.ch);
        if (wait === undefined) this.#port.postMessage({ t: 'a' } satisfies PeerMessage);
        else void wait.then(() => this.#port.postMessage({ t: 'a' } satisfies PeerMessage));
        return;
      }
      case 'w':
        this.received++;
        ex.task(m.c)!.receiveWatermark(m.ch, m.w);
        ex.flushDeadLetters();
        return;
      case 'i':
        this.received++;
        ex.task(m.c)!.receiveIdle(m.ch, m.idle);
        return;
      case 'e':
        this.received++;
        ex.task(m.c)!.receiveEnd(m.ch);
        ex.flushDeadLetters();
        return;
    }
  }

  close(): void {
    this.#flushWatermarks();
    for (const w of this.#waiters) w();
    this.#waiters = [];
    this.#port.close();
  }
}
