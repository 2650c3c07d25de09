/**
 * The PID rate controller of push sources (issue 18), on figures given by
 * hand: Spark's estimator (P 1.0, I 0.2, D 0) and the token bucket behind
 * the 429s. No timing: every `now` is passed in.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateController } from '../../src/connectors/rate-control.ts';

describe('RateController (issue 18)', () => {
  it('admits everything before its first estimate', () => {
    const rc = new RateController();
    assert.equal(rc.rate, Number.POSITIVE_INFINITY);
    assert.deepEqual(rc.admit(1_000_000, 1000), { ok: true });
  });

  it('converges on the processing rate, less a fifth of the backlog per second', () => {
    const rc = new RateController({ minRate: 100 });
    rc.update(1000, 0);
    // 200 taken in 200 ms of work: 1,000/s; 5,000 queued over a 0.2 s interval → backlog term 0.2 × 25,000.
    rc.taken(200, 200);
    assert.equal(rc.update(1200, 5000), 100, 'the backlog drives it to the minimum');
    // The queue drained, the pipeline still does 1,000/s: the rate goes back to it (P = 1).
    rc.taken(200, 200);
    assert.equal(rc.update(1400, 0), 1000);
    // 100 still queued over 0.2 s: 1,000 − 0.2 × 500.
    rc.taken(400, 400);
    assert.equal(rc.update(1600, 100), 900);
  });

  it('a stall (records waiting, none taken) drops to the minimum; an idle interval changes nothing', () => {
    const rc = new RateController({ minRate: 50 });
    rc.update(0, 0);
    rc.taken(1000, 100);
    assert.equal(rc.update(100, 0), 10_000);
    assert.equal(rc.update(200, 0), 10_000, 'nothing taken, nothing waiting: idle');
    assert.equal(rc.update(300, 7, true), 50, 'nothing taken while 7 waited');
  });

  it('admits through a one-second bucket at the rate; 429s say when to come back', () => {
    const rc = new RateController({ minRate: 100 });
    rc.update(0, 0);
    rc.taken(1000, 1000);
    rc.update(1000, 0); // 1,000/s
    assert.deepEqual(rc.admit(1000, 1000), { ok: true });
    assert.deepEqual(rc.admit(1, 1000), { ok: false, retryAfterSeconds: 1 });
    assert.deepEqual(rc.admit(400, 1500), { ok: true }, '500 tokens back after 0.5 s');
    assert.deepEqual(rc.admit(200, 1500), { ok: false, retryAfterSeconds: 1 });
    // A request larger than a second's worth: refused until the bucket is full, then let through whole.
    assert.deepEqual(rc.admit(5000, 1600), { ok: false, retryAfterSeconds: 1 });
    assert.deepEqual(rc.admit(5000, 3000), { ok: true });
    assert.deepEqual(rc.admit(1, 3000), { ok: false, retryAfterSeconds: 1 });
  });
});
