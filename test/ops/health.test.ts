import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RunHealth } from '../../src/ops/health.ts';
import { eventually } from './exposition.ts';

describe('run health (issue 17)', () => {
  it('starting → running → restarting → running again after the backoff → stopping → finished', async () => {
    const h = new RunHealth();
    const state = () => [h.phase, h.liveness().ok, h.readiness().ok];
    assert.deepEqual(state(), ['starting', true, false]);
    h.running();
    assert.deepEqual(state(), ['running', true, true]);
    h.restarting(1, 20, new Error('the sink failed'));
    assert.deepEqual(state(), ['restarting', true, false]);
    await eventually(async () => (h.readiness().ok ? true : undefined), 10_000, 'ready after the backoff');
    assert.match(h.readiness().body.reason, /restarted \(restart 1\)/);
    h.stopping('stopping: SIGTERM');
    assert.deepEqual(state(), ['stopping', true, false]);
    h.finished('stopped with a savepoint in /tmp/sp');
    assert.deepEqual(state(), ['finished', true, false]);
    h.running();
    assert.equal(h.phase, 'finished');
  });

  it('failed is final and not alive; a long error is cut to its first line', () => {
    const h = new RunHealth();
    h.restarting(3, 60_000, 'x');
    h.failed(new Error(`${'a'.repeat(400)}\n    at stack`));
    assert.equal(h.liveness().ok, false);
    assert.equal(h.liveness().body.reason.length, 'failed: '.length + 300);
    h.running();
    h.finished();
    assert.equal(h.phase, 'failed');
  });
});
