/**
 * A stuck partition makes a Kafka application's instance unhealthy (issue
 * 17): input waiting and no progress for the timeout; idle partitions and
 * moving ones never. Times are given, not waited for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunHealth } from '../../src/ops/health.ts';
import { opsOptions } from '../../src/ops/options.ts';
import { StallWatch } from '../../src/ops/stall.ts';

const at = (next: number, buffered: number, lag: number, processed: number) => ({
  next,
  buffered,
  lag,
  processed,
});

describe('stuck partitions (issue 17)', () => {
  it('input waiting and no progress for the timeout: stuck, naming the partition; moving again: not', () => {
    const watch = new StallWatch(60_000);
    assert.equal(watch.observe({ 'in:0': at(10, 5, 100, 50), 'in:1': at(7, 0, 0, 7) }, 0), undefined);
    assert.equal(watch.observe({ 'in:0': at(10, 5, 100, 50), 'in:1': at(7, 0, 0, 7) }, 59_999), undefined);
    const stuck = watch.observe({ 'in:0': at(10, 5, 100, 50), 'in:1': at(7, 0, 0, 7) }, 60_000);
    assert.equal(
      stuck,
      'stuck: partition in:0 has 105 records waiting and has not moved for 60 s (--stall-timeout 60)',
    );
    // It processed one record: the clock starts again.
    assert.equal(watch.observe({ 'in:0': at(10, 4, 100, 51), 'in:1': at(7, 0, 0, 7) }, 61_000), undefined);
    assert.equal(watch.observe({ 'in:0': at(10, 4, 100, 51), 'in:1': at(7, 0, 0, 7) }, 120_999), undefined);
    assert.match(watch.observe({ 'in:0': at(10, 4, 100, 51) }, 121_000) ?? '', /partition in:0/);
  });

  it('an idle partition (nothing waiting) is never stuck; an unknown lag counts as nothing waiting', () => {
    const watch = new StallWatch(1_000);
    for (const t of [0, 5_000, 50_000])
      assert.equal(watch.observe({ 'in:0': at(10, 0, 0, 10), 'in:1': at(3, 0, -1, 3) }, t), undefined);
  });

  it('0 turns it off', () => {
    const watch = new StallWatch(0);
    assert.equal(watch.observe({ 'in:0': at(1, 9, 9, 0) }, 0), undefined);
    assert.equal(watch.observe({ 'in:0': at(1, 9, 9, 0) }, 1e9), undefined);
  });

  it('makes the probes fail with the reason while stuck, and pass again after', () => {
    const health = new RunHealth();
    health.running();
    health.stuck(
      'stuck: partition in:0 has 5 records waiting and has not moved for 300 s (--stall-timeout 300)',
    );
    assert.equal(health.liveness().ok, false);
    assert.equal(health.readiness().ok, false);
    assert.match(health.liveness().body.reason, /^stuck: partition in:0/);
    health.stuck(undefined);
    assert.equal(health.liveness().ok, true);
    assert.equal(health.readiness().ok, true);
    health.finished();
    health.stuck('stuck: …');
    assert.equal(health.liveness().ok, true, 'a finished run is not stuck');
  });

  it('--stall-timeout: seconds, default 300, 0 = never; anything else is refused naming the fix', () => {
    assert.equal((opsOptions({}, {}) as { stallTimeoutMs: number }).stallTimeoutMs, 300_000);
    assert.equal((opsOptions({ 'stall-timeout': '0' }, {}) as { stallTimeoutMs: number }).stallTimeoutMs, 0);
    assert.equal(
      (opsOptions({ 'stall-timeout': '2.5' }, {}) as { stallTimeoutMs: number }).stallTimeoutMs,
      2500,
    );
    for (const bad of ['-1', 'soon', ''])
      assert.match(
        opsOptions({ 'stall-timeout': bad }, {}) as string,
        /^--stall-timeout must be a number of seconds/,
      );
  });
});
