import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { collectSink, type PipelineOptions, type Sink, type Source } from '../../src/index.ts';
import { canonical, goldenPipeline, goldenSource, OUTPUTS, type OutputName } from './golden.ts';

type Outputs = Record<OutputName, unknown[]>;

function emptyOutputs(): Outputs {
  return Object.fromEntries(OUTPUTS.map((n) => [n, []])) as unknown as Outputs;
}

/** Appends every run's records to the same arrays. */
function sinksInto(outputs: Outputs): (name: OutputName) => Sink<unknown> {
  return (name) => {
    const sink = collectSink<unknown>();
    return {
      ...sink,
      open: () => ({
        write(values) {
          for (const v of values) outputs[name].push(v);
        },
      }),
    };
  };
}

/** Wraps a source to report how many records it has handed out (over all subtasks). */
function counting<T>(source: Source<T>, onPolled: (total: number) => void): Source<T> {
  let total = 0;
  return {
    kind: source.kind,
    ...(source.splittable === undefined ? {} : { splittable: source.splittable }),
    async open(ctx) {
      const reader = await source.open(ctx);
      return {
        ...(reader.splits === undefined ? {} : { splits: reader.splits }),
        async poll(max) {
          const batch = await reader.poll(max);
          if (batch !== null) total += batch.values.length;
          onPolled(total);
          return batch;
        },
        position: () => reader.position!(),
      };
    },
  };
}

// Late records are decided by watermark timing, which several subtasks make timing-dependent.
const LATE = (process.env['EDDY_PARALLELISM'] ?? '1') === '1';

async function straight(count: number, seed: number, parallelism?: number): Promise<Outputs> {
  const outputs = emptyOutputs();
  const source = goldenSource({ count, seed, keys: 9, late: LATE && parallelism === undefined });
  await goldenPipeline(source, sinksInto(outputs)).run(parallelism === undefined ? {} : { parallelism });
  return outputs;
}

/**
 * Runs with a savepoint after each number of records in `stops`, resuming from
 * it each time; segment i runs at `parallelism[i]` (default: the environment's).
 */
async function withSavepoints(
  count: number,
  seed: number,
  stops: readonly number[],
  dir: string,
  parallelism?: readonly number[],
  state: 'heap' | 'durable' = 'heap',
  preAggregate?: readonly PreAggregate[],
): Promise<Outputs> {
  const outputs = emptyOutputs();
  let resumeFrom: string | undefined;
  const sorted = [...stops].sort((a, b) => a - b);
  let consumed = 0;
  let segment = 0;
  for (let i = 0; i <= sorted.length; i++) {
    const stopAt = sorted[i];
    let requested = false;
    let running: Awaited<ReturnType<ReturnType<typeof goldenPipeline>['start']>> | undefined;
    let onStarted!: (r: NonNullable<typeof running>) => void;
    const started = new Promise<NonNullable<typeof running>>((resolve) => {
      onStarted = resolve;
    });
    let savepoint: Promise<unknown> | undefined;
    const source = counting(
      goldenSource({ count, seed, keys: 9, late: LATE && parallelism === undefined }),
      (total) => {
        segment = total;
        if (stopAt === undefined || requested || consumed + total < stopAt) return;
        requested = true;
        // The sources may poll before start() has returned the handle: take the savepoint once it has.
        savepoint = started.then((r) => r.stopWithSavepoint(join(dir, `sp-${i}`)));
      },
    );
    const p = goldenPipeline(
      source,
      sinksInto(outputs),
      64,
      state === 'heap' ? 'heap' : { kind: 'durable', path: join(dir, 'state'), cacheEntries: 50 },
      preAggregate?.[i],
    );
    const par = parallelism?.[i];
    running = await p.start({
      ...(resumeFrom === undefined ? {} : { resumeFrom }),
      ...(par === undefined ? {} : { parallelism: par }),
    });
    onStarted(running);
    await running.done;
    // Several subtasks may read past a stop point before their sources pause, so a later stop
    // can lie beyond the input: then that run simply finished.
    if (savepoint === undefined) break;
    await savepoint;
    consumed += segment;
    segment = 0;
    resumeFrom = join(dir, `sp-${i}`);
  }
  return outputs;
}

type PreAggregate = NonNullable<PipelineOptions['preAggregate']>;

/**
 * The property of the rescaling tests: a run stopped with savepoints at 1–3
 * random points, each segment resumed at a random parallelism from
 * `minParallelism` to 3 (and, given `modes`, a random preAggregate mode),
 * gives every output of the straight run at parallelism 1.
 */
async function resumedAsStraight(prefix: string, minParallelism: number, modes?: readonly PreAggregate[]) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1000 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 2900 }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.integer({ min: minParallelism, max: 3 }), { minLength: 4, maxLength: 4 }),
        modes === undefined
          ? fc.constant(undefined)
          : fc.array(fc.constantFrom(...modes), { minLength: 4, maxLength: 4 }),
        async (seed, stops, parallelism, mode) => {
          const count = 3000;
          const expected = await straight(count, seed, 1);
          const actual = await withSavepoints(
            count,
            seed,
            stops,
            join(dir, `${seed}-${stops.join('-')}-${parallelism.join('')}-${mode?.join('') ?? ''}`),
            parallelism,
            'heap',
            mode,
          );
          for (const name of OUTPUTS) {
            assert.deepEqual(
              canonical(actual[name]),
              canonical(expected[name]),
              `output ${name} at ${parallelism}${mode === undefined ? '' : `, preAggregate ${mode.join(', ')}`}`,
            );
          }
        },
      ),
      { numRuns: 6 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('savepoints: stop, resume, same results (golden)', () => {
  it('a run stopped with savepoints at random points and resumed equals the straight run, for every output', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-savepoint-'));
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 1000 }),
          fc.uniqueArray(fc.integer({ min: 1, max: 2900 }), { minLength: 1, maxLength: 3 }),
          async (seed, stops) => {
            const count = 3000;
            const expected = await straight(count, seed);
            const actual = await withSavepoints(count, seed, stops, join(dir, `${seed}-${stops.join('-')}`));
            for (const name of OUTPUTS) {
              assert.ok(expected[name].length > 0 || name === 'late', `output ${name} is not empty`);
              assert.deepEqual(canonical(actual[name]), canonical(expected[name]), `output ${name}`);
            }
          },
        ),
        { numRuns: 12 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with the durable state backend (a tiny cache, so values go through the store) results are the same', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'eddy-durable-golden-'));
    try {
      for (const [seed, stops] of [
        [3, [700, 1900]],
        [8, [1500]],
      ] as const) {
        const expected = await straight(2000, seed);
        const actual = await withSavepoints(2000, seed, stops, join(dir, String(seed)), undefined, 'durable');
        for (const name of OUTPUTS)
          assert.deepEqual(canonical(actual[name]), canonical(expected[name]), `output ${name}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rescaling: each segment resumed at another parallelism (1, 2 or 3) gives the straight run at parallelism 1', async () => {
    await resumedAsStraight('eddy-rescale-', 1);
  });

  it('a savepoint taken under one preAggregate mode resumes under another (true, auto, split, false), at parallelism 2 or 3, with the results of parallelism 1', async () => {
    // The modes plan the combiners differently (in each subtask, after a split exchange, adaptive,
    // or none), but a combiner holds nothing at a barrier: a change of mode, such as the default's
    // from true to 'auto', must not strand a checkpoint.
    await resumedAsStraight('eddy-premode-', 2, [true, 'auto', 'split', false]);
  });
});
