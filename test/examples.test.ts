import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

describe('doc examples run', () => {
  it("the README's quickstart computes one average per device and second", async () => {
    const { results } = (await import('../examples/quickstart/average.ts')) as {
      results: { device: string; start: number; avg: number }[];
    };
    // 10,000 readings at 1,000/s of event time from t=1 s, some up to 0.5 s early: windows 0..10 s, 11 per device.
    assert.equal(results.length, 33);
    assert.deepEqual(new Set(results.map((r) => r.start)).size, 11);
    assert.ok(results.every((r) => r.avg >= 20 && r.avg <= 25));
  });
});
