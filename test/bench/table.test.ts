/** `nexmark-table` (issue 14's full run): per-round figures, eddy's ratios within each invocation, the summary. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  dropPairs,
  type FairReport,
  fairTable,
  summary,
  without,
} from '../../bench/nexmark/harness/table.ts';

const sys = (wall: number, cpu: number) => ({
  eventsPerSec: { mean: wall },
  eventsPerCpuS: { mean: cpu },
  latencyP99Ms: 5,
  peakRssMb: 100,
  outputsPerKEvents: 7.5,
});
const round = (system: string, query: string, wall: number, cpu: number, load?: number) => ({
  system,
  query,
  eventsPerSec: wall,
  eventsPerCpuS: cpu,
  ...(load === undefined ? {} : { load }),
});
const report = (query: string, eddy: number, peer: number): FairReport => ({
  method: { parallelism: 1, cores: '0', rounds: 2 },
  queries: { [query]: { eddy: sys(eddy, eddy), kafkaStreams: sys(peer, peer / 2) } },
  rounds: [
    round('eddy', query, eddy - 10_000, eddy),
    round('kafka-streams', query, peer, peer / 2),
    round('eddy', query, eddy + 10_000, eddy),
    round('kafka-streams', query, peer, peer / 2),
    // A paced latency round is not a maximum-rate round.
    round('eddy', query, 1, 1, 0.5),
  ],
});

describe('nexmark-table', () => {
  it('a row per query and system with each round, and eddy’s ratios within the query’s own run', () => {
    const { rows, ratios } = fairTable([report('q0', 600_000, 300_000), report('q5', 200_000, 400_000)]);
    assert.equal(rows.length, 2 + 4);
    assert.match(rows[2]!, /^\| q0 \| eddy \| 600k \(590k, 610k\) \| 600k \(600k, 600k\) \| {2}\| {2}\|/);
    assert.match(
      rows[3]!,
      /^\| q0 \| kafka-streams \| 300k \(300k, 300k\) \| 150k \(150k, 150k\) \| 2\.00× \| 4\.00× \|/,
    );
    assert.deepEqual(ratios.get('kafka-streams')?.get('q5'), { wall: 0.5, cpu: 1 });
  });

  it('the summary: geometric means over the queries, and where eddy is behind', () => {
    const { ratios } = fairTable([report('q0', 600_000, 300_000), report('q5', 200_000, 400_000)]);
    const lines = summary(ratios);
    assert.equal(lines.length, 3);
    // √(2 × 0.5) = 1 in events/s; √(4 × 1) = 2 per CPU-s; behind on q5 in events/s only.
    assert.equal(lines[2], '| kafka-streams | 2 | 1.00× | 2.00× | q5 (0.50) | none |');
  });

  it('--drop leaves a system out of one query only', () => {
    const r = without(report('q4', 600_000, 300_000), new Set(['q4:kafka-streams', 'q5:eddy']));
    assert.deepEqual(Object.keys(r.queries['q4']!), ['eddy']);
    assert.ok(r.rounds.every((x) => x.system === 'eddy'));
    assert.equal(fairTable([r]).ratios.size, 0);
  });

  it('--drop pairs: systems as printed or as a report spells them; a malformed pair fails, naming it', () => {
    assert.deepEqual([...dropPairs('q4:flink-sql,q5:kafkaStreams')], ['q4:flink-sql', 'q5:kafka-streams']);
    assert.deepEqual([...dropPairs('')], []);
    for (const bad of ['q4', 'q4:', ':flink', 'q4:flink:x'])
      assert.throws(() => dropPairs(bad), new RegExp(`--drop takes query:system pairs.*"${bad}"`));
  });
});
