/**
 * Event time carried from one stage of a Kafka application to the next
 * through the topic between them (issue 13: several keyed stages). As
 * Flink's Kafka shuffle does, each task of the earlier stage writes, with
 * each commit, its watermark into every partition of the topic — a marker
 * record after the records it covers — and each record carries its event
 * time in a header and, when it was late, its floor (`Batch.floors`)
 * in a header. A task of the later stage takes the lowest watermark over all
 * tasks of the earlier one (each holds it back until its first marker), so
 * lateness there is what it would be embedded: a record on time upstream
 * precedes every marker at or past its time, and a late one keeps its floor.
 *
 * Markers follow the commit interval: the later stage's watermark trails the
 * earlier stage's by up to one commit, which delays its windows, never makes
 * a record late.
 */
import type { FetchedMessage } from './fetched.ts';

/**
 * On a marker: `<task>/<tasks>/<watermark>/<idle>` of the earlier stage's
 * task that wrote it (idle 1: its input went idle, so it holds no one back
 * until its next marker says otherwise, as an idle split does embedded).
 */
const WATERMARK_HEADER = 'eddy.wm';
export const WATERMARK_HEADER_KEY = Buffer.from(WATERMARK_HEADER);
/** On a record that was late upstream: its floor. */
const FLOOR_HEADER = 'eddy.floor';
export const FLOOR_HEADER_KEY = Buffer.from(FLOOR_HEADER);

/**
 * On a record forwarded to a repartition topic or written to a stage topic:
 * its event time (not as its Kafka timestamp, which a broker refuses an
 * hour or more ahead of its clock: `log.message.timestamp.after.max.ms`).
 * A record without it (written before) is at its Kafka timestamp.
 */
const TIME_HEADER = 'eddy.t';
export const TIME_HEADER_KEY = Buffer.from(TIME_HEADER);

/** The event-time header of a forwarded record. */
export function timeHeader(t: number): [Buffer, Buffer] {
  return [TIME_HEADER_KEY, Buffer.from(String(t))];
}

/** The marker of task `from` of `of` at `watermark`, for one partition of `topic`. */
export function markerMessage(
  topic: string,
  partition: number,
  from: number,
  of: number,
  watermark: number,
  idle: boolean,
): { topic: string; partition: number; value: Buffer; headers: Map<Buffer, Buffer> } {
  return {
    topic,
    partition,
    value: Buffer.alloc(0),
    headers: new Map([[WATERMARK_HEADER_KEY, Buffer.from(`${from}/${of}/${watermark}/${idle ? 1 : 0}`)]]),
  };
}

/** The floor header of a record late upstream (a finite floor); undefined for one on time. */
export function floorHeader(floor: number | undefined): [Buffer, Buffer] | undefined {
  return floor === undefined || !Number.isFinite(floor)
    ? undefined
    : [FLOOR_HEADER_KEY, Buffer.from(String(floor))];
}

/** What a record read by a later stage carries: a marker's watermark, or its floor (and event time, when forwarded). */
export function carriedOf(
  m: FetchedMessage,
):
  | { marker: { from: number; of: number; watermark: number; idle: boolean } }
  | { floor: number; time?: number } {
  let floor = Number.NEGATIVE_INFINITY;
  let time: number | undefined;
  for (const [k, v] of m.headers ?? []) {
    const name = k?.toString();
    if (name === WATERMARK_HEADER) {
      const [from, of, watermark, idle] = String(v).split('/').map(Number) as [
        number,
        number,
        number,
        number,
      ];
      return { marker: { from, of, watermark, idle: idle === 1 } };
    }
    if (name === FLOOR_HEADER) floor = Number(String(v));
    else if (name === TIME_HEADER) time = Number(String(v));
  }
  return time === undefined ? { floor } : { floor, time };
}

/**
 * The watermarks of an earlier stage's tasks as one later-stage task has
 * read them: the lowest over all of them, once each has written one.
 */
export class CarriedWatermarks {
  readonly #of = new Map<number, number>();
  /** Tasks whose last marker said idle. */
  readonly #idle = new Set<number>();
  #tasks: number | undefined;

  /** `restored`: what `snapshot` gave at the checkpoint this task restores. */
  constructor(restored?: unknown) {
    if (restored === null || typeof restored !== 'object' || Array.isArray(restored)) return;
    const r = restored as { tasks?: unknown; of?: unknown; idle?: unknown };
    if (typeof r.tasks === 'number') this.#tasks = r.tasks;
    if (Array.isArray(r.of))
      for (const e of r.of)
        if (Array.isArray(e) && typeof e[0] === 'number' && typeof e[1] === 'number')
          this.#of.set(e[0], e[1]);
    if (Array.isArray(r.idle)) for (const t of r.idle) if (typeof t === 'number') this.#idle.add(t);
  }

  /** A marker read: task `from` of `of` is at `watermark` (never back), idle or not. */
  note(from: number, of: number, watermark: number, idle = false): void {
    this.#tasks = of;
    if (watermark > (this.#of.get(from) ?? Number.NEGATIVE_INFINITY)) this.#of.set(from, watermark);
    if (idle) this.#idle.add(from);
    else this.#idle.delete(from);
  }

  /**
   * The lowest watermark over the earlier stage's tasks that are not idle;
   * undefined until each of them has written one, and while all are idle.
   */
  watermark(): number | undefined {
    if (this.#tasks === undefined) return undefined;
    let min = Number.POSITIVE_INFINITY;
    for (let t = 0; t < this.#tasks; t++) {
      if (this.#idle.has(t)) continue;
      const w = this.#of.get(t);
      if (w === undefined) return undefined;
      if (w < min) min = w;
    }
    return min === Number.POSITIVE_INFINITY ? undefined : min;
  }

  /** Whether every task of the earlier stage is idle (the later stage's source is then idle too). */
  idle(): boolean {
    return this.#tasks !== undefined && this.#idle.size >= this.#tasks;
  }

  /** Plain data for the checkpoint (the source's position), given back to the constructor on restore. */
  snapshot(): { tasks: number | null; of: [number, number][]; idle: number[] } {
    return { tasks: this.#tasks ?? null, of: [...this.#of], idle: [...this.#idle] };
  }
}
