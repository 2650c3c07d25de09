/**
 * The fair runs' chart (issue 14): the newest line of each query is drawn
 * whole (systems of different runs are never put side by side), one bar and
 * one whisker per system.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chartSvg, fairLines, latest } from '../../bench/nexmark/harness/chart.ts';

const r = (mean: number) => ({
  eventsPerSec: { mean, low: mean * 0.9, high: mean * 1.1, n: 3 },
  eventsPerCpuS: { mean, low: mean * 0.9, high: mean * 1.1, n: 3 },
});
const line = (date: string, parallelism: number, queries: object) =>
  JSON.stringify({ bench: 'nexmark-fair', date, method: { parallelism, durability: 'none' }, queries });

describe('nexmark-chart', () => {
  it('takes each query from its newest line at the parallelism asked, all systems of that line only', () => {
    const text = [
      'prose',
      line('2026-12-04', 1, {
        q0: { eddy: r(1), flink: r(2), spark: r(3) },
        q5: { eddy: r(4), flink: r(5) },
      }),
      line('2026-12-05', 2, { q0: { eddy: r(9), flink: r(9) } }),
      `  ${line('2026-12-05', 1, { q0: { eddy: r(6), flink: r(7) } })}`,
    ].join('\n');
    const lines = fairLines(text);
    assert.equal(lines.length, 3);
    const got = latest(lines, 1);
    assert.deepEqual([...got.keys()], ['q0', 'q5']);
    // q0 from the newest line: no Spark from the older run beside it.
    assert.deepEqual([...got.get('q0')!.keys()], ['eddy', 'flink']);
    assert.equal(got.get('q0')!.get('eddy')!.eventsPerSec.mean, 6);
    assert.equal(got.get('q5')!.get('flink')!.eventsPerSec.mean, 5);
    // With a newer run of q0 against Kafka Streams only: the chart with Flink keeps the Flink run.
    const more = fairLines(
      `${text}\n${line('2026-12-06', 1, { q0: { eddy: r(8), kafkaStreams: r(3) }, q4r: { eddy: r(1) } })}`,
    );
    assert.deepEqual([...latest(more, 1).get('q0')!.keys()], ['eddy', 'kafkaStreams']);
    assert.deepEqual([...latest(more, 1, 'flink').get('q0')!.keys()], ['eddy', 'flink']);
    assert.deepEqual([...latest(more, 1, 'flink').keys()], ['q0', 'q5']);
    assert.deepEqual([...latest(more, 1).keys()], ['q0', 'q4r', 'q5']);
    // Newer runs with checkpoints or in the Kafka mode measure something else: left out.
    const other = (method: object) =>
      JSON.stringify({
        bench: 'nexmark-fair',
        date: '2026-12-07',
        method,
        queries: { q0: { eddy: r(99), flink: r(99) } },
      });
    const skipped = fairLines(
      `${text}\n${other({ parallelism: 1, durability: 'checkpoint' })}\n${other({ parallelism: 1, durability: 'none', transport: 'kafka' })}`,
    );
    assert.equal(latest(skipped, 1).get('q0')!.get('eddy')!.eventsPerSec.mean, 6);
    const file = fairLines(`${text}\n${other({ parallelism: 1, durability: 'none', transport: 'file' })}`);
    assert.equal(latest(file, 1).get('q0')!.get('eddy')!.eventsPerSec.mean, 99);
    const svg = chartSvg(got, 'eventsPerSec', 'test');
    // One bar per system and query (4) and one legend swatch per system (2).
    assert.equal(svg.match(/<rect /g)?.length, 6);
    assert.match(svg, /<title>q0 eddy: 6 \(5–7\)<\/title>/);
  });
});
