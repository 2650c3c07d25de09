/**
 * Sequence sets of the NATS source: ranges compress consecutive sequences;
 * RecentAcks answers for what was acknowledged within its time and forgets
 * what is older.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentAcks, ranges } from '../../../src/connectors/nats/sequences.ts';
import { Random } from '../../../src/util/random.ts';

describe('NATS sequence sets', () => {
  it('ranges: sorted, consecutive and repeated sequences merged', () => {
    assert.deepEqual(ranges([5, 3, 4, 9, 9, 1, 10]), [
      [1, 1],
      [3, 5],
      [9, 10],
    ]);
    assert.deepEqual(ranges([]), []);
  });

  it('RecentAcks agrees with a plain set over random acknowledgements, and forgets after keepMs', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const g = new Random(seed);
      const acks = new RecentAcks(1000);
      const all = new Map<number, number>(); // sequence -> when acknowledged
      let t = 0;
      for (let round = 0; round < 50; round++) {
        t += g.int(100);
        const seqs = Array.from({ length: 1 + g.int(20) }, () => 1 + g.int(2000));
        acks.add(seqs, t);
        for (const s of seqs) all.set(s, t);
        for (let probe = 0; probe < 50; probe++) {
          const s = g.int(2100);
          const at = all.get(s);
          // A chunk is forgotten at the next add after keepMs; until then it still answers.
          if (at !== undefined && t - at <= 1000)
            assert.equal(acks.has(s), true, `seed ${seed}: ${s} acked at ${at}, now ${t}`);
          if (at === undefined) assert.equal(acks.has(s), false, `seed ${seed}: ${s} never acked`);
        }
      }
    }
  });
});
