import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hashKey, keyGroupOf, keyGroupRange, workerForKeyGroup } from '../../src/core/key-groups.ts';

describe('key groups', () => {
  it('hashes are stable across releases (saved state depends on them)', () => {
    assert.deepEqual(
      ['', 'a', 'sensor-07', 0, 1, -1].map((k) => hashKey(k)),
      [3954623016, 3441918203, 3295099317, 0, 1364076727, 2180083513],
    );
    assert.deepEqual(
      ['a', 'sensor-07', 42].map((k) => keyGroupOf(k, 128)),
      [123, 53, 92],
    );
    assert.equal(hashKey(1.5), hashKey('1.5'), 'non-integer numbers hash as their string');
  });

  it('ranges of any parallelism cover every key group exactly once and agree with workerForKeyGroup', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 64 }), (maxP, p0) => {
        const p = Math.min(p0, maxP);
        let next = 0;
        for (let w = 0; w < p; w++) {
          const { start, end } = keyGroupRange(maxP, p, w);
          assert.equal(start, next);
          for (let g = start; g < end; g++) assert.equal(workerForKeyGroup(maxP, p, g), w);
          next = end;
        }
        assert.equal(next, maxP);
      }),
    );
  });
});
