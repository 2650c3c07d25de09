import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_TIMER_MS, systemClock } from '../../src/core/clock.ts';

describe('system clock', () => {
  it('a timer beyond 2^31 - 1 ms does not fire at once (Node fires such a setTimeout after 1 ms)', async () => {
    let fired = false;
    const cancel = systemClock.schedule(Date.now() + MAX_TIMER_MS + 10_000, () => {
      fired = true;
    });
    // Not a speed assertion: a slow machine can only make the wait longer, never fire it early.
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(fired, false);
    cancel();
  });

  it('a near timer fires', async () => {
    await new Promise<void>((resolve) => systemClock.schedule(Date.now() + 5, resolve));
  });
});
