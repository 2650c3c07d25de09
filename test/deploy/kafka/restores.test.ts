import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChangelogReplica } from '../../../src/connectors/kafka/changelog.ts';
import { RestoresUnderway } from '../../../src/deploy/kafka/restores.ts';

/** A replica whose progress the test sets (the real one reads a changelog topic). */
function replica(progress: Map<number, { records: number; next?: bigint; end?: bigint }>): ChangelogReplica {
  return { progress: (p: number) => progress.get(p) ?? { records: 0 } } as unknown as ChangelogReplica;
}

describe('RestoresUnderway', () => {
  it('reports a restore while it runs, from its replica’s progress, and forgets it once it settles', async () => {
    const underway = new RestoresUnderway();
    const progress = new Map<number, { records: number; next?: bigint; end?: bigint }>();
    let finish!: () => void;
    const done = underway.track(
      3,
      replica(progress),
      () => new Promise<string>((r) => (finish = () => r('ok'))),
    );
    assert.deepEqual(
      underway.inFlight().map((r) => [r.partition, r.records, r.offset, r.end, r.standby]),
      [[3, 0, -1, -1, false]],
      'before its read has begun: no offsets',
    );
    progress.set(3, { records: 1200, next: 1200n, end: 3000n });
    const [r] = underway.inFlight();
    assert.deepEqual([r!.records, r!.offset, r!.end], [1200, 1200, 3000]);
    assert.ok(r!.at <= Date.now());
    finish();
    assert.equal(await done, 'ok');
    assert.deepEqual(underway.inFlight(), []);
  });

  it('forgets a restore that fails, and passes its error on', async () => {
    const underway = new RestoresUnderway();
    await assert.rejects(
      underway.track(1, replica(new Map()), async () => {
        throw new Error('broker gone');
      }),
      /broker gone/,
    );
    assert.deepEqual(underway.inFlight(), []);
  });
});
