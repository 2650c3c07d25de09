/**
 * The differential suite's parts: a random pipeline and input from a seed, the
 * pipeline built from it, a batch oracle for its results, and the checks that
 * compare a streaming run's outputs with the oracle.
 *
 * The oracle is written from the documented semantics alone and shares no
 * code with the engine (its own window arithmetic, sessionization, floors and
 * joins, over plain arrays and maps):
 *
 * - A source's records arrive per split in input order (an array source is
 *   one split; a generator with `splits` S puts record i in split i mod S).
 *   A record's floor is `max(earlier times of its split) - bound - 1` when its
 *   time is at or below that (it broke the out-of-orderness bound), else none.
 * - Tumbling/sliding windows: a record joins each window [s, e) containing its
 *   time with `e - 1 + lateness > floor`; a record that joins none goes to the
 *   late output. Sessions: a record is late when `t + gap - 1 + lateness <=
 *   floor`; sessions are the batch sessionization of the accepted records.
 * - Window join: the pairs of accepted left and right records of each key and
 *   window. Interval join: records at or below their floor are late; pairs of
 *   the rest with the right's time in [left + lower, left + upper].
 * - Keyed process with timers (only on inputs without late records): at
 *   timer T = t + delay the ids of the key's records with time <= T - delay.
 * - Rolling aggregate: every record; the last result per key holds them all.
 *
 * What a streaming run may do differently from the batch view — emit a
 * window on time and then update it with late results, or include those
 * records before it fires — depends on timing; the checks accept exactly
 * that and nothing else (see {@link check}).
 */
import {
  type Aggregator,
  arraySource,
  type DeadLetter,
  generatorSource,
  type Key,
  listState,
  Pipeline,
  type PipelineOptions,
  type Sink,
  type Source,
  type Stream,
  session,
  sliding,
  tumbling,
  type Windowed,
} from '../../src/index.ts';

// ---------- seeded randomness (mulberry32; the engine's own generator is not used) ----------

export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---------- the random case ----------

export interface Rec {
  readonly id: number;
  readonly k: Key;
  readonly t: number;
  readonly v: number;
  /** Which side of a join the record is on. */
  readonly side: 0 | 1;
}

export type Assigner =
  | { readonly kind: 'tumbling'; readonly size: number; readonly offset: number }
  | { readonly kind: 'sliding'; readonly size: number; readonly slide: number; readonly offset: number }
  | { readonly kind: 'session'; readonly gap: number };

export type Op =
  | {
      readonly kind: 'window';
      readonly assigner: Assigner;
      readonly lateness: number;
      /** ids: the sorted ids (with merge); ids-nomerge: the same without merge; count. */
      /** ids: the sorted ids (with merge); ids-nomerge: the same without merge; count; max: reduce to the highest id. */
      readonly agg: 'ids' | 'ids-nomerge' | 'count' | 'max';
    }
  | { readonly kind: 'window-join'; readonly size: number; readonly slide: number; readonly lateness: number }
  | { readonly kind: 'interval-join'; readonly lower: number; readonly upper: number }
  | { readonly kind: 'process'; readonly delay: number }
  | { readonly kind: 'rolling' };

export interface Case {
  readonly seed: number;
  /** In input order. */
  readonly records: readonly Rec[];
  /** 1 for an array source; the generator's splits otherwise. */
  readonly splits: number;
  readonly generator: boolean;
  readonly bound: number;
  readonly batchSize: number;
  readonly op: Op;
  /** Records with `v % 17 === 0` make a map throw: they must all reach the dead letters, and nothing else. */
  readonly poison: boolean;
  /**
   * 2: side-0 and side-1 records come from two sources (of the same kind), each with its own
   * watermark and floors — a join reads one per side, anything else their union.
   */
  readonly sources: 1 | 2;
  /** The records pass through an async map (mapAsync) before the keyBy. */
  readonly async: boolean;
  /**
   * Skewed keys: about 80 % of the records carry the case's first key (a hot
   * key); window aggregations then spread it over two subtasks
   * (`preAggregate: 'split'`).
   */
  readonly hot: boolean;
}

/** Keys that have broken things: lone surrogates, prototype names, numbers next to their strings. */
const KEYS: readonly Key[] = [
  'a',
  'b',
  'c',
  'd',
  '\uD800',
  'x\uDC00',
  '__proto__',
  'constructor',
  7,
  '7',
  0,
  -1.5,
];

export function makeCase(seed: number): Case {
  const r = new Rng(seed);
  const keyCount = 1 + r.int(5);
  const keys: Key[] = [];
  while (keys.length < keyCount) {
    const k = r.pick(KEYS);
    if (!keys.includes(k)) keys.push(k);
  }
  const kinds = ['window', 'window', 'window', 'window-join', 'interval-join', 'process', 'rolling'] as const;
  const kind = r.pick(kinds);
  const grid = r.pick([1, 5, 10]);
  const bound = r.pick([0, 0, 10, 50, 200]);
  // Records beyond the bound (late at the source): never for process functions, whose
  // timers would race with them (a process function sees late records; it does not drop them).
  const lateP = kind === 'process' ? 0 : r.pick([0, 0.05, 0.15, 0.3]);
  const n = 10 + r.int(r.chance(0.2) ? 600 : 200);
  const records: Rec[] = [];
  let nominal = r.chance(0.3) ? -500 : 1000;
  for (let id = 0; id < n; id++) {
    nominal += r.int(4) * grid;
    let t = nominal;
    if (r.chance(0.5)) t -= r.int(bound + 1);
    if (r.chance(lateP)) t -= bound + 1 + r.int(400);
    records.push({ id, k: r.pick(keys), t, v: r.int(1000), side: r.chance(0.5) ? 0 : 1 });
  }
  const generator = r.chance(0.4);
  const splits = generator ? 1 + r.int(4) : 1;
  const batchSize = r.chance(0.25) ? 1 : 1 + r.int(r.chance(0.5) ? 8 : 80);
  const lateness = r.pick([0, 0, 10, 50, 200]);
  let op: Op;
  switch (kind) {
    case 'window': {
      const which = r.int(3);
      let assigner: Assigner;
      if (which === 0) {
        const size = r.pick([10, 30, 100]);
        assigner = { kind: 'tumbling', size, offset: r.chance(0.3) ? r.int(size) : 0 };
      } else if (which === 1) {
        const slide = r.pick([10, 20, 50]);
        const size = slide * (1 + r.int(4));
        assigner = { kind: 'sliding', size, slide, offset: r.chance(0.3) ? r.int(slide) : 0 };
      } else assigner = { kind: 'session', gap: r.pick([5, 20, 60]) };
      const agg =
        assigner.kind === 'session'
          ? r.pick(['ids', 'count', 'max'] as const)
          : r.pick(['ids', 'ids-nomerge', 'count', 'max'] as const);
      op = { kind: 'window', assigner, lateness, agg };
      break;
    }
    case 'window-join': {
      const slide = r.pick([10, 30, 50]);
      op = { kind: 'window-join', size: slide * (1 + r.int(3)), slide, lateness };
      break;
    }
    case 'interval-join': {
      // Now and then bounds wide enough that the join's clean-up step (cleanupStep) exceeds the
      // records' spacing: a record past its horizon is still buffered and must meet no partner.
      const scale = r.pick([1, 1, 1, 40]);
      const lower = -r.int(4) * 20 * scale;
      op = { kind: 'interval-join', lower, upper: lower + r.int(5) * 20 * scale };
      break;
    }
    case 'process':
      op = { kind: 'process', delay: r.pick([0, 5, 30, 100]) };
      break;
    default:
      op = { kind: 'rolling' };
  }
  const poison = r.chance(0.3);
  // Drawn last, so the cases of earlier seeds stay as they were.
  const sources = r.chance(0.3) ? 2 : 1;
  const async = r.chance(0.2);
  const hot = r.chance(0.25) && keys.length > 1;
  // A hot case's keys are redrawn from a generator of their own, so the other draws stay as they were.
  const skewed = hot ? withHotKey(records, keys, new Rng(seed * 131)) : records;
  return { seed, records: skewed, splits, generator, bound, batchSize, op, poison, sources, async, hot };
}

/** The records with about 80 % of them moved to the first key. */
function withHotKey(records: readonly Rec[], keys: readonly Key[], r: Rng): Rec[] {
  return records.map((rec) => (r.chance(0.8) ? { ...rec, k: keys[0]! } : rec));
}

export function describeCase(c: Case): string {
  const src = `${c.sources === 2 ? 'two sources, ' : ''}${c.generator ? `generator(${c.splits} splits)` : 'array'}`;
  const extras = `${c.poison ? ', poison' : ''}${c.async ? ', mapAsync' : ''}${c.hot ? ', hot key' : ''}, preAggregate ${preAggregateOf(c)}`;
  return `${c.records.length} records from ${src}, bound ${c.bound}, batch ${c.batchSize}${extras}, ${JSON.stringify(c.op)}`;
}

// ---------- the pipeline ----------

/** What a run writes: the main output, the late output, the dead letters. */
export interface Outputs {
  readonly main: unknown[];
  readonly late: unknown[];
  readonly dead: DeadLetter[];
  /** Problems a sink saw itself (a write while the previous one was pending). */
  readonly sinkProblems: string[];
}

export function emptyOutputs(): Outputs {
  return { main: [], late: [], dead: [], sinkProblems: [] };
}

/**
 * A sink whose writes complete later (setImmediate), which records a write
 * that comes while the previous one is still pending (issue 19: overlapping
 * writes at parallelism > 1).
 */
export function strictAsyncSink<T>(into: T[], problems: string[]): Sink<T> {
  return {
    kind: 'strict-async',
    guarantee: 'best-effort',
    open: () => {
      let pending = false;
      return {
        write(values) {
          if (pending) problems.push('write() called again before its previous promise settled');
          pending = true;
          for (const v of values) into.push(v);
          return new Promise<void>((resolve) =>
            setImmediate(() => {
              pending = false;
              resolve();
            }),
          );
        },
      };
    },
  };
}

const idsAgg: Aggregator<Rec, number[], number[]> = {
  create: () => [],
  add: (acc, r) => {
    acc.push(r.id);
    return acc;
  },
  merge: (a, b) => a.concat(b),
  result: (acc) => [...acc].sort((x, y) => x - y),
};
const { merge: _merge, ...idsNoMerge } = idsAgg;

export interface Sinks {
  readonly main: Sink<unknown>;
  readonly late: Sink<unknown>;
  readonly dead: Sink<DeadLetter>;
}

/** The pipeline of a case; `source` replaces the case's own source (a gated one, for crashes). */
/**
 * How a case pre-aggregates its window aggregations at parallelism > 1: a
 * case with a hot key after a split exchange (partial key grouping: the hot
 * key spread over two subtasks); the others in each subtask (the default),
 * split, adaptive ('auto': local until a threaded run's judge spreads), or
 * not at all, from a hash of the seed, so no draw of the case changes and
 * every mode (threads, kills) meets each of the four.
 */
export function preAggregateOf(c: Case): NonNullable<PipelineOptions['preAggregate']> {
  if (c.hot) return 'split';
  return ([true, 'split', 'auto', false] as const)[(Math.imul(c.seed, 0x9e3779b1) >>> 0) % 4]!;
}

export function buildPipeline(
  c: Case,
  sinks: Sinks,
  options: {
    state?: PipelineOptions['state'];
    /** Replace the case's sources (gated ones, for kills): one, or one per side with two sources. */
    sources?: readonly Source<Rec>[];
  } = {},
): Pipeline {
  const p = new Pipeline({
    name: `diff-${c.seed}`,
    preAggregate: preAggregateOf(c),
    ...(options.state === undefined ? {} : { state: options.state }),
  });
  const sourceOptions = { timestamp: (r: Rec) => r.t, maxOutOfOrderness: c.bound, batchSize: c.batchSize };
  const prepare = (stream: Stream<Rec>, suffix: string): Stream<Rec> => {
    let events = stream;
    if (c.poison)
      events = events.map((r) => {
        if (r.v % 17 === 0) throw new Error(`poison ${r.id}`);
        return r;
      }, `poison${suffix}`);
    if (c.async) events = events.mapAsync(async (r) => r, { concurrency: 3, name: `async${suffix}` });
    return events;
  };
  // One source, or one per side.
  const sides: Stream<Rec>[] =
    c.sources === 1
      ? [prepare(p.source('in', options.sources?.[0] ?? caseSource(c), sourceOptions), '')]
      : ([0, 1] as const).map((side) =>
          prepare(
            p.source(`in-${side}`, options.sources?.[side] ?? caseSource(c, side), sourceOptions),
            `-${side}`,
          ),
        );
  const events = sides.length === 1 ? sides[0]! : sides[0]!.union(sides[1]!);
  const side = (s: 0 | 1) =>
    (sides.length === 2 ? sides[s]! : events.filter((r) => r.side === s, `side-${s}`)).keyBy(
      (r) => r.k,
      `key-${s}`,
    );
  const keyed = events.keyBy((r) => r.k, 'by-key');
  const op = c.op;
  switch (op.kind) {
    case 'window': {
      const a = op.assigner;
      const assigner =
        a.kind === 'tumbling'
          ? tumbling(a.size, a.offset)
          : a.kind === 'sliding'
            ? sliding(a.size, a.slide, a.offset)
            : session(a.gap);
      const w = keyed.window(assigner, { allowedLateness: op.lateness });
      const out =
        op.agg === 'count'
          ? w.count('win')
          : op.agg === 'max'
            ? w.reduce((a, b) => (a.id > b.id ? a : b), 'win')
            : w.aggregate(op.agg === 'ids' ? idsAgg : idsNoMerge, 'win');
      out.sink(sinks.main as Sink<unknown>, 'out');
      out.late().sink(sinks.late as Sink<unknown>, 'late-out');
      break;
    }
    case 'window-join': {
      const j = side(0)
        .join(side(1))
        .window(op.size === op.slide ? tumbling(op.size) : sliding(op.size, op.slide), {
          allowedLateness: op.lateness,
        })
        .apply((l, r) => `${l.id}-${r.id}`, 'join');
      j.sink(sinks.main as Sink<unknown>, 'out');
      j.late().sink(sinks.late as Sink<unknown>, 'late-out');
      break;
    }
    case 'interval-join': {
      const j = side(0).intervalJoin(
        side(1),
        { lower: op.lower, upper: op.upper },
        (l, r) => `${l.id}-${r.id}`,
        'join',
      );
      j.sink(sinks.main as Sink<unknown>, 'out');
      j.late().sink(sinks.late as Sink<unknown>, 'late-out');
      break;
    }
    case 'process': {
      const delay = op.delay;
      keyed
        .withState({ seen: listState<[number, number]>() })
        .process<{ key: Key; at: number; ids: number[] }>(
          {
            processElement(r, ctx) {
              ctx.state.seen.add([r.id, r.t]);
              ctx.timers.registerEventTime(r.t + delay);
            },
            onTimer(at, _domain, ctx) {
              const ids = ctx.state.seen
                .get()
                .filter(([, t]) => t <= at - delay)
                .map(([id]) => id)
                .sort((x, y) => x - y);
              ctx.emit({ key: ctx.key, at, ids }, at);
            },
          },
          { name: 'proc' },
        )
        .sink(sinks.main as Sink<unknown>, 'out');
      break;
    }
    case 'rolling':
      keyed.aggregate(idsNoMerge, 'rolling').sink(sinks.main as Sink<unknown>, 'out');
      break;
  }
  p.deadLetters().sink(sinks.dead, 'dead-out');
  return p;
}

/** The records a source reads: all of them, or one side's (two sources). */
export function recordsOf(c: Case, side?: 0 | 1): readonly Rec[] {
  return side === undefined ? c.records : c.records.filter((r) => r.side === side);
}

export function caseSource(c: Case, side?: 0 | 1): Source<Rec> {
  const records = recordsOf(c, side);
  if (!c.generator) return arraySource(records);
  return generatorSource<Rec>({
    count: records.length,
    splits: c.splits,
    startTime: 0,
    make: (i) => records[i]!,
  });
}

// ---------- the oracle ----------

const NONE = Number.NEGATIVE_INFINITY;

function floorTo(t: number, step: number, offset: number): number {
  const r = (((t - offset) % step) + step) % step;
  return t - r;
}

/** Each record's floor (by id), from the earlier records of its source's split. */
export function floorsOf(c: Case): number[] {
  const floors = new Array<number>(c.records.length).fill(NONE);
  const lists = c.sources === 1 ? [c.records] : [recordsOf(c, 0), recordsOf(c, 1)];
  for (const list of lists) {
    const max = new Array<number>(c.splits).fill(NONE);
    list.forEach((r, i) => {
      const s = i % c.splits;
      const before = max[s]!;
      if (r.t > before) max[s] = r.t;
      if (r.t <= before - c.bound - 1) floors[r.id] = before - c.bound - 1;
    });
  }
  return floors;
}

export interface Expected {
  /** Windows: `key|start|end` -> sorted ids (or count). Joins: pair -> how many times. Process/rolling: per key. */
  readonly windows?: Map<string, number[]>;
  readonly pairs?: Map<string, number>;
  readonly timers?: Map<string, number[]>;
  readonly rolling?: Map<string, number[]>;
  /** Ids of records that must reach the late output. */
  readonly late: number[];
  /** Ids of records that must reach the dead letters. */
  readonly dead: number[];
}

export const keyText = (k: Key): string => (typeof k === 'number' ? `n:${k}` : `s:${k}`);
export const windowId = (k: Key, start: number, end: number): string => `${keyText(k)}|${start}|${end}`;

export function expected(c: Case): Expected {
  const floors = floorsOf(c);
  const dead: number[] = [];
  const live: { r: Rec; floor: number }[] = [];
  c.records.forEach((r, i) => {
    if (c.poison && r.v % 17 === 0) dead.push(r.id);
    else live.push({ r, floor: floors[i]! });
  });
  const late: number[] = [];
  const op = c.op;
  const push = <V>(m: Map<string, V[]>, key: string, v: V) => {
    let list = m.get(key);
    if (list === undefined) m.set(key, (list = []));
    list.push(v);
  };
  switch (op.kind) {
    case 'window': {
      const windows = new Map<string, number[]>();
      const a = op.assigner;
      if (a.kind === 'session') {
        const byKey = new Map<string, { k: Key; list: Rec[] }>();
        for (const { r, floor } of live) {
          if (r.t + a.gap - 1 + op.lateness <= floor) {
            late.push(r.id);
            continue;
          }
          let e = byKey.get(keyText(r.k));
          if (e === undefined) byKey.set(keyText(r.k), (e = { k: r.k, list: [] }));
          e.list.push(r);
        }
        for (const { k, list } of byKey.values()) {
          list.sort((x, y) => x.t - y.t);
          let ids: number[] = [];
          let start = list[0]!.t;
          let last = start;
          for (const r of list) {
            if (ids.length > 0 && r.t >= last + a.gap) {
              windows.set(windowId(k, start, last + a.gap), ids);
              ids = [];
              start = r.t;
            }
            ids.push(r.id);
            if (r.t > last) last = r.t;
          }
          windows.set(windowId(k, start, last + a.gap), ids);
        }
      } else {
        const slide = a.kind === 'sliding' ? a.slide : a.size;
        for (const { r, floor } of live) {
          let joined = false;
          for (let s = floorTo(r.t, slide, a.offset); s > r.t - a.size; s -= slide) {
            if (s + a.size - 1 + op.lateness <= floor) continue;
            push(windows, windowId(r.k, s, s + a.size), r.id);
            joined = true;
          }
          if (!joined) late.push(r.id);
        }
      }
      for (const ids of windows.values()) ids.sort((x, y) => x - y);
      return { windows, late, dead };
    }
    case 'window-join': {
      const sides = new Map<string, number[][]>();
      for (const { r, floor } of live) {
        let joined = false;
        for (let s = floorTo(r.t, op.slide, 0); s > r.t - op.size; s -= op.slide) {
          if (s + op.size - 1 + op.lateness <= floor) continue;
          const id = windowId(r.k, s, s + op.size);
          let both = sides.get(id);
          if (both === undefined) sides.set(id, (both = [[], []]));
          both[r.side]!.push(r.id);
          joined = true;
        }
        if (!joined) late.push(r.id);
      }
      const pairs = new Map<string, number>();
      for (const [ls, rs] of sides.values())
        for (const l of ls!) for (const r of rs!) pairs.set(`${l}-${r}`, (pairs.get(`${l}-${r}`) ?? 0) + 1);
      return { pairs, late, dead };
    }
    case 'interval-join': {
      const accepted: Rec[] = [];
      for (const { r, floor } of live) {
        if (r.t <= floor) late.push(r.id);
        else accepted.push(r);
      }
      const pairs = new Map<string, number>();
      for (const l of accepted) {
        if (l.side !== 0) continue;
        for (const r of accepted) {
          if (r.side !== 1 || keyText(r.k) !== keyText(l.k)) continue;
          if (r.t >= l.t + op.lower && r.t <= l.t + op.upper) pairs.set(`${l.id}-${r.id}`, 1);
        }
      }
      return { pairs, late, dead };
    }
    case 'process': {
      const timers = new Map<string, number[]>();
      const byKey = new Map<string, Rec[]>();
      for (const { r } of live) push(byKey, keyText(r.k), r);
      for (const [k, list] of byKey) {
        for (const at of new Set(list.map((r) => r.t + op.delay))) {
          const ids = list.filter((r) => r.t <= at - op.delay).map((r) => r.id);
          timers.set(
            `${k}@${at}`,
            ids.sort((x, y) => x - y),
          );
        }
      }
      return { timers, late, dead };
    }
    case 'rolling': {
      const rolling = new Map<string, number[]>();
      for (const { r } of live) push(rolling, keyText(r.k), r.id);
      for (const ids of rolling.values()) ids.sort((x, y) => x - y);
      return { rolling, late, dead };
    }
  }
}

// ---------- the checks ----------

const sameIds = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);
const isSubset = (a: readonly number[], b: readonly number[]) => {
  const s = new Set(b);
  return a.every((x) => s.has(x));
};
const idsOfLate = (late: readonly unknown[]) => late.map((r) => (r as Rec).id).sort((x, y) => x - y);
const sorted = (xs: readonly number[]) => [...xs].sort((x, y) => x - y);

/**
 * Compares a run's outputs with the oracle; returns the problems found (empty
 * when the run is right). `exactlyOnce`: the outputs come from a run with a
 * crash in the middle and must hold each result once all the same.
 */
export function check(c: Case, want: Expected, got: Outputs): string[] {
  const problems: string[] = [...got.sinkProblems];
  const deadIds = sorted(got.dead.map((d) => (JSON.parse(d.payload) as Rec).id));
  if (!sameIds(deadIds, want.dead))
    problems.push(`dead letters ${show(deadIds)}, expected ${show(want.dead)}`);
  for (const d of got.dead)
    if (d.code !== 'EDDY_USER_FUNCTION_FAILED' || !/poison/.test(d.reason))
      problems.push(`unexpected dead letter ${JSON.stringify(d)}`);
  const lateIds = idsOfLate(got.late);
  if (!sameIds(lateIds, sorted(want.late)))
    problems.push(`late output ${show(lateIds)}, expected ${show(sorted(want.late))}`);
  const op = c.op;
  if (op.kind === 'window') {
    // Each kind of result as the ids it stands for: count → how many, max → the highest id, else the ids.
    const count = op.agg === 'count';
    const max = op.agg === 'max';
    const valueIds = (v: unknown): number[] | number =>
      count ? (v as number) : max ? (v as Rec).id : (v as number[]);
    const finalOf = (ids: readonly number[]): number[] | number =>
      count ? ids.length : max ? Math.max(...ids) : [...ids];
    const byWindow = new Map<string, Windowed<Key, unknown>[]>();
    for (const w of got.main as Windowed<Key, unknown>[]) {
      const id = windowId(w.key, w.window.start, w.window.end);
      let list = byWindow.get(id);
      if (list === undefined) byWindow.set(id, (list = []));
      list.push(w);
    }
    const finals = want.windows!;
    for (const [id, ids] of finals) {
      const emitted = byWindow.get(id);
      if (emitted === undefined) {
        problems.push(`window ${id} never emitted (expected ${show(ids)})`);
        continue;
      }
      const last = valueIds(emitted.at(-1)!.value);
      const want = finalOf(ids);
      if (typeof want === 'number' ? last !== want : !sameIds(last as number[], want))
        problems.push(`window ${id}: last result ${JSON.stringify(last)}, expected ${JSON.stringify(want)}`);
    }
    for (const [id, emitted] of byWindow) {
      const timings = emitted.map((w) => w.timing);
      if (timings.filter((t) => t === 'on-time').length > 1)
        problems.push(`window ${id} emitted on time twice: ${timings}`);
      if (timings.indexOf('on-time') > 0)
        problems.push(`window ${id} emitted on time after a late result: ${timings}`);
      if (timings.some((t) => t === 'early'))
        problems.push(`window ${id}: an early result, none were asked for`);
      // Each result adds to the one before (late records only add); equal ones are duplicates.
      for (let i = 1; i < emitted.length; i++) {
        const a = valueIds(emitted[i - 1]!.value);
        const b = valueIds(emitted[i]!.value);
        // A reduce to the highest id may emit the same record again (a late record with a lower id).
        const grows = count
          ? (b as number) > (a as number)
          : max
            ? (b as number) >= (a as number)
            : (b as number[]).length > (a as number[]).length && isSubset(a as number[], b as number[]);
        if (!grows)
          problems.push(
            `window ${id}: result ${i} ${JSON.stringify(b)} does not add to ${JSON.stringify(a)} (a duplicate or a loss)`,
          );
      }
      if (!finals.has(id)) {
        if (op.assigner.kind !== 'session')
          problems.push(`window ${id} emitted but holds no accepted record`);
        else {
          // A session emitted before it grew: within a final session of its key, with a subset of its ids.
          const [k, s, e] = splitWindowId(id);
          const within = [...finals].find(([fid]) => {
            const [fk, fs, fe] = splitWindowId(fid);
            return fk === k && fs <= s && e <= fe;
          });
          const last = valueIds(emitted.at(-1)!.value);
          if (within === undefined) problems.push(`session ${id} is in no final session`);
          else if (
            count
              ? (last as number) >= within[1].length
              : max
                ? !within[1].includes(last as number)
                : !isSubset(last as number[], within[1])
          )
            problems.push(
              `session ${id} holds ${JSON.stringify(last)}, not a part of ${within[0]} ${show(within[1])}`,
            );
        }
      }
    }
  } else if (op.kind === 'window-join' || op.kind === 'interval-join') {
    const got2 = new Map<string, number>();
    for (const p of got.main as string[]) got2.set(p, (got2.get(p) ?? 0) + 1);
    for (const [pair, n] of want.pairs!)
      if (got2.get(pair) !== n)
        problems.push(`pair ${pair} emitted ${got2.get(pair) ?? 0} times, expected ${n}`);
    for (const [pair, n] of got2)
      if (!want.pairs!.has(pair)) problems.push(`pair ${pair} emitted ${n} times, expected none`);
  } else if (op.kind === 'process') {
    const seen = new Map<string, number>();
    for (const e of got.main as { key: Key; at: number; ids: number[] }[]) {
      const id = `${keyText(e.key)}@${e.at}`;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      const ids = want.timers!.get(id);
      if (ids === undefined) problems.push(`timer ${id} fired, expected none`);
      else if (!sameIds(e.ids, ids)) problems.push(`timer ${id} saw ${show(e.ids)}, expected ${show(ids)}`);
    }
    for (const id of want.timers!.keys())
      if (seen.get(id) !== 1) problems.push(`timer ${id} fired ${seen.get(id) ?? 0} times`);
  } else {
    const byKey = new Map<string, number[][]>();
    for (const e of got.main as { key: Key; value: number[] }[]) {
      let list = byKey.get(keyText(e.key));
      if (list === undefined) byKey.set(keyText(e.key), (list = []));
      list.push(e.value);
    }
    for (const [k, ids] of want.rolling!) {
      const list = byKey.get(k) ?? [];
      if (list.length !== ids.length)
        problems.push(`key ${k}: ${list.length} running results, expected ${ids.length}`);
      const last = list.reduce<number[]>((a, b) => (b.length > a.length ? b : a), []);
      if (!sameIds(sorted(last), ids))
        problems.push(`key ${k}: fullest result ${show(sorted(last))}, expected ${show(ids)}`);
    }
    for (const k of byKey.keys())
      if (!want.rolling!.has(k)) problems.push(`results for key ${k}, expected none`);
  }
  return problems;
}

function splitWindowId(id: string): [string, number, number] {
  const parts = id.split('|');
  const end = Number(parts.pop());
  const start = Number(parts.pop());
  return [parts.join('|'), start, end];
}

function show(ids: readonly number[]): string {
  return ids.length > 12 ? `[${ids.slice(0, 12).join(',')}, … ${ids.length} in all]` : `[${ids.join(',')}]`;
}
