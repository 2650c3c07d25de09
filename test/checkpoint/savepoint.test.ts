import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { collectSink, type Sink, type Source } from '../../src/index.ts';
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

/** Wraps a source to report how many records it has handed out. */
function counting<T>(source: Source<T>, onPolled: (total: number) => void): Source<T> {
  return {
    kind: source.kind,
    async open(ctx) {
      const reader = await source.open(ctx);
      let total = 0;
      return {
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

async function straight(count: number, seed: number): Promise<Outputs> {
  const outputs = emptyOutputs();
  await goldenPipeline(goldenSource({ count, seed, keys: 9 }), sinksInto(outputs)).run();
  return outputs;
}

/** Runs with a savepoint after each number of records in `stops`, resuming from it each time. */
async function withSavepoints(
  count: number,
  seed: number,
  stops: readonly number[],
  dir: string,
): Promise<Outputs> {
  const outputs = emptyOutputs();
  let resumeFrom: string | undefined;
  const sorted = [...stops].sort((a, b) => a - b);
  for (let i = 0; i <= sorted.length; i++) {
    const stopAt = sorted[i];
    let requested = false;
    let running: Awaited<ReturnType<ReturnType<typeof goldenPipeline>['start']>> | undefined;
    let savepoint: Promise<unknown> | undefined;
    const source = counting(goldenSource({ count, seed, keys: 9 }), (total) => {
      if (stopAt === undefined || requested || total < stopAt - (i > 0 ? sorted[i - 1]! : 0)) return;
      requested = true;
      savepoint = running!.stopWithSavepoint(join(dir, `sp-${i}`));
    });
    const p = goldenPipeline(source, sinksInto(outputs));
    running = await p.start(resumeFrom === undefined ? {} : { resumeFrom });
    await running.done;
    if (stopAt !== undefined) {
      assert.ok(savepoint !== undefined, `the run reached ${stopAt} records`);
      await savepoint;
      resumeFrom = join(dir, `sp-${i}`);
    }
  }
  return outputs;
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
});
