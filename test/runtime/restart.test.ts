import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EddyError } from '../../src/errors/index.ts';
import { RESTART_DEFAULTS, RestartStrategy } from '../../src/runtime/restart.ts';

describe('RestartStrategy', () => {
  it('backs off exponentially up to the maximum, without jitter when told', () => {
    const r = new RestartStrategy({
      initialBackoffMs: 100,
      maxBackoffMs: 1000,
      jitter: 0,
      maxFailures: 100,
      resetAfterMs: 1e9,
    });
    const delays = [0, 1, 2, 3, 4, 5].map((i) => r.onFailure(i));
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
    assert.equal(r.restarts, 6);
  });

  it('fails past maxFailures within the interval, and forgets failures older than it', () => {
    const r = new RestartStrategy({ maxFailures: 2, intervalMs: 1000, jitter: 0 });
    assert.notEqual(r.onFailure(0), undefined);
    assert.notEqual(r.onFailure(10), undefined);
    assert.equal(r.onFailure(20), undefined, 'the third failure within 1 s exhausts it');
    const s = new RestartStrategy({ maxFailures: 2, intervalMs: 1000, jitter: 0 });
    s.onFailure(0);
    s.onFailure(10);
    assert.notEqual(s.onFailure(1500), undefined, 'the first two are out of the window');
    assert.match(s.exhaustedMessage('the run'), /restart limit: 2/);
  });

  it('starts the backoff again after a quiet spell', () => {
    const r = new RestartStrategy({ initialBackoffMs: 50, jitter: 0, resetAfterMs: 1000, maxFailures: 100 });
    r.onFailure(0);
    r.onFailure(1);
    assert.equal(r.onFailure(2), 200);
    assert.equal(r.onFailure(5000), 50);
  });

  it('with the defaults, a run that fails at every start gives up (the backoffs fit in the rate window)', () => {
    // Simulated time: each failure comes one backoff after the one before, as for a run that never starts.
    for (const random of [() => 0, () => 0.5, () => 0.999]) {
      const r = new RestartStrategy(undefined, random);
      let now = 0;
      let failures = 0;
      for (let delay = r.onFailure(now); delay !== undefined; delay = r.onFailure(now)) {
        now += delay;
        failures++;
        assert.ok(failures < 100, 'never gives up');
      }
      assert.equal(failures, RESTART_DEFAULTS.maxFailures);
      assert.ok(now < RESTART_DEFAULTS.intervalMs, `gave up after ${now} ms`);
    }
  });

  it('keeps jitter within its fraction', () => {
    let x = 0;
    const r = new RestartStrategy(
      { initialBackoffMs: 1000, maxBackoffMs: 1000, jitter: 0.1, maxFailures: 1e6 },
      () => {
        x = (x + 0.37) % 1;
        return x;
      },
    );
    for (let i = 0; i < 100; i++) {
      const d = r.onFailure(i)!;
      assert.ok(d >= 900 && d <= 1100, `${d}`);
    }
  });

  it('maxFailures 0 never restarts; bad options name the value', () => {
    assert.equal(new RestartStrategy({ maxFailures: 0 }).onFailure(0), undefined);
    assert.throws(
      () => new RestartStrategy({ multiplier: 0.5 }),
      (e: unknown) => e instanceof EddyError && /multiplier.*0\.5/.test(e.message),
    );
    assert.throws(() => new RestartStrategy({ initialBackoffMs: Number.NaN }), /initialBackoffMs.*NaN/);
    assert.throws(() => new RestartStrategy({ maxBackoffMs: 10, initialBackoffMs: 100 }), /maxBackoffMs/);
  });
});
