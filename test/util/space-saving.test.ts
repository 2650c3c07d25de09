/**
 * The hot-key sketch (issue 18) against exact counts over seeded Zipf
 * inputs: Space-Saving's guarantees with every record looked at, shares
 * close to the truth with one record in eight, and the hot key followed when
 * it changes. A failure names its seed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Random } from '../../src/util/random.ts';
import { SpaceSaving } from '../../src/util/space-saving.ts';

/** `n` keys `k0..k(keys-1)` drawn with P(k_i) ∝ 1/(i+1)^s, in batches of random sizes. */
function zipf(seed: number, n: number, keys: number, s: number): string[][] {
  const random = new Random(seed);
  const rnd = () => random.next();
  const weights = Array.from({ length: keys }, (_, i) => 1 / (i + 1) ** s);
  const total = weights.reduce((a, b) => a + b, 0);
  const cdf: number[] = [];
  let acc = 0;
  for (const w of weights) cdf.push((acc += w / total));
  const batches: string[][] = [];
  let batch: string[] = [];
  let size = 1 + Math.floor(rnd() * 1500);
  for (let i = 0; i < n; i++) {
    const u = rnd();
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    batch.push(`k${lo}`);
    if (batch.length >= size) {
      batches.push(batch);
      batch = [];
      size = 1 + Math.floor(rnd() * 1500);
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

function exact(batches: readonly string[][]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const b of batches) for (const k of b) counts.set(k, (counts.get(k) ?? 0) + 1);
  return counts;
}

/** The sketch's three heaviest keys are the true three, each share within 2 points. */
function assertTopThree(
  sketch: SpaceSaving<string>,
  truth: [string, number][],
  n: number,
  seed: number,
): void {
  const top = sketch.top(3);
  assert.deepEqual(
    top.map((h) => h.key),
    truth.slice(0, 3).map(([k]) => k),
    `seed ${seed}`,
  );
  for (let i = 0; i < 3; i++)
    assert.ok(
      Math.abs(top[i]!.count / sketch.total - truth[i]![1] / n) < 0.02,
      `seed ${seed}: ${top[i]!.key} share ${top[i]!.count / sketch.total} vs ${truth[i]![1] / n}`,
    );
}

describe('SpaceSaving (hot keys, issue 18)', () => {
  for (const seed of [1, 2, 3, 4, 5])
    for (const s of [0.8, 1.0, 1.5, 2.0])
      it(`seed ${seed}, Zipf ${s}: looking at every record, every key above 1/capacity is held with count − error ≤ true ≤ count`, () => {
        const batches = zipf(seed, 60_000, 5_000, s);
        const truth = exact(batches);
        const sketch = new SpaceSaving<string>({
          capacity: 32,
          stride: 1,
          halfLife: Number.MAX_SAFE_INTEGER,
        });
        for (const b of batches) sketch.offer(b);
        const n = batches.reduce((a, b) => a + b.length, 0);
        assert.equal(sketch.total, n, `seed ${seed}`);
        const held = new Map(sketch.top(32).map((h) => [h.key, h]));
        for (const [key, count] of truth) {
          const h = held.get(key);
          if (count > n / 32) assert.ok(h !== undefined, `seed ${seed}: ${key} (${count} of ${n}) not held`);
          if (h !== undefined)
            assert.ok(
              h.count - h.error <= count && count <= h.count,
              `seed ${seed}: ${key} true ${count}, sketch ${h.count} − ${h.error}`,
            );
        }
      });

  for (const seed of [11, 12, 13])
    it(`seed ${seed}: with one record in eight, the three heaviest keys and their shares (±2 points) match the truth`, () => {
      const batches = zipf(seed, 200_000, 10_000, 1.5);
      const truth = [...exact(batches)].sort((a, b) => b[1] - a[1]);
      const n = batches.reduce((a, b) => a + b.length, 0);
      const sketch = new SpaceSaving<string>({
        capacity: 32,
        stride: 8,
        halfLife: Number.MAX_SAFE_INTEGER,
        seed,
      });
      for (const b of batches) sketch.offer(b);
      assert.ok(Math.abs(sketch.total - n / 8) < n / 80, `seed ${seed}: sampled ${sketch.total} of ${n}`);
      assertTopThree(sketch, truth, n, seed);
    });

  for (const seed of [21, 22, 23])
    it(`seed ${seed}: widened from one record in 8 to one in 64 after 10,000 samples, the heaviest keys and shares still match`, () => {
      const batches = zipf(seed, 1_000_000, 10_000, 1.5);
      const truth = [...exact(batches)].sort((a, b) => b[1] - a[1]);
      const n = batches.reduce((a, b) => a + b.length, 0);
      const sketch = new SpaceSaving<string>({
        capacity: 32,
        stride: 8,
        maxStride: 64,
        widenAfter: 10_000,
        halfLife: Number.MAX_SAFE_INTEGER,
        seed,
      });
      for (const b of batches) sketch.offer(b);
      // 10,000 samples over the first ~80,000 records, then one in 64 of the rest.
      const expected = 10_000 + (n - 80_000) / 64;
      assert.ok(
        Math.abs(sketch.total - expected) < expected * 0.05,
        `seed ${seed}: sampled ${sketch.total}, expected ~${expected}`,
      );
      assertTopThree(sketch, truth, n, seed);
    });

  it('follows a change of hot key: the old one fades as counts halve', () => {
    const sketch = new SpaceSaving<string>({ capacity: 16, stride: 1, halfLife: 1_000 });
    const mostlyA = Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? 'a' : `x${i % 50}`));
    const mostlyB = mostlyA.map((k) => (k === 'a' ? 'b' : k));
    sketch.offer(mostlyA);
    assert.equal(sketch.top(1)[0]!.key, 'a');
    sketch.offer(mostlyB);
    const top = sketch.top(2);
    assert.equal(top[0]!.key, 'b');
    assert.ok(top[0]!.count / sketch.total > 0.45, `b's share ${top[0]!.count / sketch.total}`);
    assert.ok((top.find((h) => h.key === 'a')?.count ?? 0) / sketch.total < 0.05);
  });

  it('numbers and strings are different keys; a periodic key pattern does not alias with the sample', () => {
    const sketch = new SpaceSaving<string | number>({
      capacity: 8,
      stride: 8,
      halfLife: Number.MAX_SAFE_INTEGER,
    });
    // Period 8, the stride: a fixed-stride sample would see one key only.
    const keys: (string | number)[] = [];
    for (let i = 0; i < 80_000; i++) keys.push(i % 8 === 0 ? 1 : i % 8 === 1 ? '1' : `k${i % 8}`);
    for (let i = 0; i < keys.length; i += 1000) sketch.offer(keys.slice(i, i + 1000));
    const shares = new Map(sketch.top(8).map((h) => [h.key, h.count / sketch.total]));
    assert.equal(shares.size, 8);
    for (const [key, share] of shares) assert.ok(Math.abs(share - 1 / 8) < 0.02, `${String(key)}: ${share}`);
  });
});
