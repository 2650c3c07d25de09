/**
 * Operator chaining: a run of stateless steps (map, filter, flatMap, and a
 * final keyBy) with nothing branching off between them runs as one operator, in
 * one loop per batch, with no intermediate arrays (Flink's operator chains).
 *
 * The loop is generated per chain with `new Function`, so that each user
 * function is called from its own call site: V8 can then inline it, which a
 * shared loop calling stage after stage through an array cannot. The generated
 * text contains only eddy's own code and stage indices; user functions are
 * passed in as values, never spliced in as source.
 *
 * A throw isolates the record that caused it (see user-errors.ts) and the loop
 * resumes at the next one. Each member step keeps its own record counts.
 */
import type { Batch } from '../core/batch.ts';
import { type Key, keyGroupOf } from '../core/key-groups.ts';
import type { StepCounters } from '../core/metrics.ts';
import type { Operator, OperatorContext, Output } from './operator.ts';
import { userFunctionFailed } from './user-errors.ts';

export type StageKind = 'map' | 'filter' | 'flatMap' | 'keyBy';

export interface Stage {
  readonly kind: StageKind;
  readonly fn: (value: unknown) => unknown;
}

type ChainLoop = (
  values: readonly unknown[],
  times: readonly number[],
  fns: readonly ((value: unknown) => unknown)[],
  outValues: unknown[],
  outTimes: number[],
  outKeys: Key[],
  outGroups: number[],
  counts: Float64Array,
  onError: (error: unknown, value: unknown, time: number, stage: number) => void,
  keyGroup: (key: Key, maxParallelism: number) => number,
  maxParallelism: number,
  floors: readonly number[] | undefined,
  outFloors: number[] | undefined,
) => void;

const compiled = new Map<string, ChainLoop>();

/**
 * Generates (and caches, by shape) the loop for a sequence of stage kinds;
 * `withFloors`: the variant that also carries records' floors (see
 * `Batch.floors`), used only for the rare batches that have them.
 */
function compile(kinds: readonly StageKind[], withFloors: boolean): ChainLoop {
  const shape = `${kinds.join(',')}${withFloors ? '+floors' : ''}`;
  const cached = compiled.get(shape);
  if (cached !== undefined) return cached;
  const s = kinds.length;
  let body = '';
  let close = '';
  for (let k = 0; k < s; k++) {
    const v = `v${k}`;
    body += `c${k}++; st = ${k}; cur = ${v};\n`;
    switch (kinds[k]) {
      case 'map':
        body += `const v${k + 1} = f${k}(${v});\n`;
        break;
      case 'filter':
        body += `if (!f${k}(${v})) continue;\nconst v${k + 1} = ${v};\n`;
        break;
      case 'flatMap':
        body += `for (const v${k + 1} of f${k}(${v})) {\n`;
        close += '}\n';
        break;
      case 'keyBy':
        if (k !== s - 1) throw new Error('keyBy must end a chain');
        body +=
          `const key = f${k}(${v});\n` +
          `if (typeof key !== 'string' && typeof key !== 'number') throw new TypeError('key must be a string or number, got ' + typeof key);\n` +
          `outKeys.push(key); outGroups.push(keyGroup(key, mp));\n` +
          `const v${k + 1} = ${v};\n`;
        break;
    }
  }
  body += `c${s}++;\noutValues.push(v${s}); outTimes.push(t);${withFloors ? ' outFloors.push(floors[i]);' : ''}\n`;
  const locals = Array.from({ length: s + 1 }, (_, k) => `c${k} = 0`).join(', ');
  const fns = Array.from({ length: s }, (_, k) => `const f${k} = fns[${k}];`).join('\n');
  const writeBack = Array.from({ length: s + 1 }, (_, k) => `counts[${k}] += c${k};`).join('\n');
  const source = `
${fns}
let ${locals};
let st = 0;
let cur;
const n = values.length;
let i = 0;
for (;;) {
  try {
    for (; i < n; i++) {
      const t = times[i];
      const v0 = values[i];
${body}${close}
    }
    break;
  } catch (e) {
    onError(e, cur, times[i], st);
    i++;
  }
}
${writeBack}
`;
  const loop = new Function(
    'values',
    'times',
    'fns',
    'outValues',
    'outTimes',
    'outKeys',
    'outGroups',
    'counts',
    'onError',
    'keyGroup',
    'mp',
    'floors',
    'outFloors',
    source,
  ) as ChainLoop;
  compiled.set(shape, loop);
  return loop;
}

export class ChainOperator implements Operator {
  readonly #fns: readonly ((value: unknown) => unknown)[];
  readonly #keyed: boolean;
  // The chain is a keyBy and nothing else (see #keyOnly).
  readonly #onlyKeyBy: boolean;
  readonly #maxParallelism: number;
  readonly #members: readonly StepCounters[];
  readonly #counts: Float64Array;
  readonly #memberIds: readonly string[];
  readonly #loop: ChainLoop;
  readonly #kinds: readonly StageKind[];
  #floorLoop: ChainLoop | undefined;
  #ctx!: OperatorContext;
  #onError!: (error: unknown, value: unknown, time: number, stage: number) => void;

  /** `members` are the counters of each stage's step, in order (the task counts the first's input and the last's output). */
  constructor(stages: readonly Stage[], maxParallelism: number, members: readonly StepCounters[]) {
    this.#memberIds = members.map((m) => m.id);
    this.#fns = stages.map((s) => s.fn);
    this.#keyed = stages.at(-1)?.kind === 'keyBy';
    this.#onlyKeyBy = this.#keyed && stages.length === 1;
    this.#maxParallelism = maxParallelism;
    this.#members = members;
    this.#counts = new Float64Array(stages.length + 1);
    this.#kinds = stages.map((s) => s.kind);
    this.#loop = compile(this.#kinds, false);
  }

  onStart(ctx: OperatorContext): void {
    this.#ctx = ctx;
    // Attributed to the stage that threw, with that stage's input.
    this.#onError = (error, value, time, stage) =>
      userFunctionFailed(this.#ctx, error, value, time, this.#memberIds[stage]!);
  }

  processBatch(batch: Batch, _input: number, out: Output): void {
    if (this.#onlyKeyBy && this.#keyOnly(batch, out)) return;
    const values: unknown[] = [];
    const times: number[] = [];
    const keys: Key[] = [];
    const groups: number[] = [];
    const counts = this.#counts;
    counts.fill(0);
    const floors = batch.floors;
    const outFloors: number[] | undefined = floors === undefined ? undefined : [];
    const loop = floors === undefined ? this.#loop : (this.#floorLoop ??= compile(this.#kinds, true));
    loop(
      batch.values,
      batch.times,
      this.#fns,
      values,
      times,
      keys,
      groups,
      counts,
      this.#onError,
      keyGroupOf,
      this.#maxParallelism,
      floors,
      outFloors,
    );
    const members = this.#members;
    // counts[k] = records that reached stage k; counts[last] = records out of the chain.
    for (let k = 0; k < members.length; k++) {
      const m = members[k]!;
      if (k > 0) {
        m.recordsIn += counts[k]!;
        m.batchesIn++;
      }
      if (k < members.length - 1) m.recordsOut += counts[k + 1]!;
    }
    if (values.length === 0) return;
    const batchOut: Batch = this.#keyed ? { values, times, keys, groups } : { values, times };
    out.emitBatch(outFloors === undefined ? batchOut : { ...batchOut, floors: outFloors });
  }

  /**
   * A chain that is only a keyBy: the batch goes on with its own values and
   * times and new keys and groups, so two of the four arrays per batch are
   * not made (less to allocate and collect per record, which counts most when
   * several threads share the memory bus). False, having emitted nothing,
   * when a key function throws or returns something that is not a key: the
   * general loop then takes the batch (calling the key function again for
   * the records before that one; key functions must be pure).
   */
  #keyOnly(batch: Batch, out: Output): boolean {
    const { values } = batch;
    const n = values.length;
    const fn = this.#fns[0]!;
    const mp = this.#maxParallelism;
    const keys: Key[] = new Array(n);
    const groups: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      let key: unknown;
      try {
        key = fn(values[i]);
      } catch {
        return false;
      }
      if (typeof key !== 'string' && typeof key !== 'number') return false;
      keys[i] = key;
      groups[i] = keyGroupOf(key, mp);
    }
    if (n === 0) return true;
    const floors = batch.floors;
    out.emitBatch(
      floors === undefined
        ? { values, times: batch.times, keys, groups }
        : { values, times: batch.times, keys, groups, floors },
    );
    return true;
  }
}
