/**
 * A pipeline run that hands a sink records of which some are too large for
 * its destination: the run must end (no restart: a failure fails the test
 * instead of looping) with those records dead-lettered — code
 * EDDY_RECORD_REFUSED, the reason, the payload cut to 64 KiB — and the
 * others delivered.
 */
import assert from 'node:assert/strict';
import { arraySource, collectSink, type DeadLetter, Pipeline, type Sink } from '../../src/index.ts';

export async function runRefusing<T>(sink: Sink<T>, records: readonly T[]): Promise<DeadLetter[]> {
  const p = new Pipeline({ name: 'refusing', batchSize: 4 });
  p.source('in', arraySource([...records])).sink(sink, 'out');
  const dead = collectSink<DeadLetter>();
  p.deadLetters().sink(dead, 'dead');
  await p.run({ parallelism: 1, restart: false });
  for (const d of dead.values) {
    assert.equal(d.code, 'EDDY_RECORD_REFUSED', d.reason);
    assert.equal(d.step, 'out');
    assert.ok(d.payload.length <= 64 * 1024 + 20, `the payload is cut (${d.payload.length} characters)`);
  }
  return dead.values;
}

/** A string of `bytes` ASCII characters. */
export const big = (bytes: number, fill = 'x') => fill.repeat(bytes);
