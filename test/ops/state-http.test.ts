/**
 * Queryable state over HTTP (issue 17) for state JSON has no word for: a
 * key's map state comes out as its entries (not `{}`), filtered by a prefix
 * or range of map keys (`entryPrefix`, `entryFrom`, `entryTo`, `entryLimit`),
 * in key order, with its size and whether more matched — from a real run
 * behind the metrics server on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Pipeline, type Source } from '../../src/index.ts';
import { Dashboard } from '../../src/ops/dashboard.ts';
import { RunHealth } from '../../src/ops/health.ts';
import { startMetricsServer } from '../../src/ops/metrics-server.ts';
import { RunExporter } from '../../src/ops/prometheus.ts';
import { mapState } from '../../src/state/handles.ts';
import { eventually } from './exposition.ts';

interface Line {
  readonly cart: string;
  readonly item: string;
  readonly qty: number;
}

/** 30 cart lines for cart "c1" (items a00..a14, b00..b14), then the source stays open. */
function lines(): Source<Line> {
  const all: Line[] = [];
  for (const p of ['a', 'b'])
    for (let i = 0; i < 15; i++)
      all.push({ cart: 'c1', item: `${p}${String(i).padStart(2, '0')}`, qty: i + 1 });
  return {
    kind: 'held-open',
    open: () => {
      let sent = false;
      return {
        poll: () => {
          if (sent) return { values: [] };
          sent = true;
          return { values: all };
        },
      };
    },
  };
}

describe('state over HTTP: map state', () => {
  it('shows a map as its entries, filtered by a prefix or range of its keys, with size and truncated', {
    timeout: 60_000,
  }, async () => {
    const p = new Pipeline({ name: 'carts' });
    p.source('lines', lines(), { timestamp: 'ingestion' })
      .keyBy((l) => l.cart)
      .withState({ items: mapState<string, number>() })
      .process<string>(
        {
          processElement(l, ctx) {
            ctx.state.items.set(l.item, l.qty);
          },
        },
        { name: 'cart' },
      )
      .sink({ kind: 'none', guarantee: 'best-effort', open: () => ({ write() {} }) }, 'out');
    const running = await p.start({ parallelism: 1 });
    const health = new RunHealth();
    const dashboard = new Dashboard({
      pipeline: 'carts',
      runId: 'r',
      mode: 'embedded',
      parallelism: 1,
      health,
    });
    dashboard.attach(() => running.metrics());
    dashboard.attachQuery((step, key) => running.queryState(step, key));
    dashboard.attachScan((step, o) => running.scanState(step, o));
    const server = await startMetricsServer(
      { host: '127.0.0.1', port: 0, token: undefined },
      new RunExporter({ pipeline: 'carts', runId: 'r', mode: 'embedded', processMetrics: false }),
      health,
      dashboard,
    );
    try {
      await eventually(
        async () => ((running.metrics().steps['cart']?.recordsIn ?? 0) === 30 ? true : undefined),
        30_000,
        '30 lines into "cart"',
      );
      type MapJson = { entries: [string, number][]; size: number; truncated: boolean };
      const get = async (path: string) => {
        const res = await fetch(`${server.url}${path}`);
        assert.equal(res.status, 200, path);
        return ((await res.json()) as { entries: { value: MapJson }[] }).entries[0]!.value;
      };
      const whole = await get('/state/cart/c1');
      assert.equal(whole.size, 30);
      assert.equal(whole.entries.length, 30, 'a map is its entries, not {}');
      const b = await get('/state/cart/c1?entryPrefix=b&entryLimit=4');
      assert.deepEqual(b.entries, [
        ['b00', 1],
        ['b01', 2],
        ['b02', 3],
        ['b03', 4],
      ]);
      assert.equal(b.truncated, true);
      const range = await get('/state/cart/c1?entryFrom=a13&entryTo=b01');
      assert.deepEqual(
        range.entries.map(([k]) => k),
        ['a13', 'a14', 'b00'],
      );
      assert.equal(range.truncated, false);
      // The same filter applies to the maps of a scan's keys.
      const scanned = await fetch(`${server.url}/state/cart?prefix=c&entryPrefix=a1`);
      const s = (await scanned.json()) as { keys: { key: string; entries: { value: MapJson }[] }[] };
      assert.deepEqual(
        s.keys.map((k) => [k.key, k.entries[0]!.value.entries.length]),
        [['c1', 5]],
      );
    } finally {
      await server.close();
      dashboard.close();
      running.stop();
      await running.done;
    }
  });
});
