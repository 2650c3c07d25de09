/**
 * The finance reference pipeline (examples/finance/pipeline.ts: fraud
 * screening per account, then VWAP per symbol) runs embedded and as a Kafka
 * application of two instances — two keyed stages, so two stage
 * applications each (issue 13) — over the same seeded, out-of-order trades;
 * both outputs equal a batch computation written without the engine: the
 * screening rule per account and window, then per symbol and window the
 * notional, volume and trade count of what passed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MessageToProduce } from '@platformatic/kafka';
import { flagged, type Trade, type Vwap } from '../../examples/finance/pipeline.ts';
import { kafkaPartition } from '../../src/connectors/kafka/index.ts';
import { flushMessages, inputMessage, random, runBothWays } from '../cli/both-ways.ts';
import { kafkaReady } from '../kafka/helpers.ts';

const kafka = await kafkaReady();
const MODULE = new URL('../../examples/finance/pipeline.ts', import.meta.url).pathname;
const PARTITIONS = 3;
const WINDOW = 1000;
const DISORDER = 500;
const MAX_TRADES = 8;
const MAX_NOTIONAL = 5_000_000;
const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'SAP'];

/** 3,000 trades of 20 accounts (a0 and a1 trade five times as often: often flagged), 10 ms apart, some early. */
function input(seed: number): { messages: MessageToProduce[]; trades: Trade[]; end: number } {
  const r = random(seed);
  const base = 1_700_000_000_000;
  const messages: MessageToProduce[] = [];
  const trades: Trade[] = [];
  for (let i = 0; i < 3000; i++) {
    const account = r() < 0.3 ? `a${Math.floor(r() * 2)}` : `a${2 + Math.floor(r() * 18)}`;
    const t: Trade = {
      account,
      symbol: SYMBOLS[Math.floor(r() * SYMBOLS.length)]!,
      price: 10_000 + Math.floor(r() * 5_000),
      qty: 1 + Math.floor(r() * (r() < 0.02 ? 500 : 20)),
      ts: base + i * 10 - Math.floor(r() * (DISORDER - 1)),
    };
    trades.push(t);
    messages.push(inputMessage(account, kafkaPartition(account, PARTITIONS), JSON.stringify(t)));
  }
  const end = base + 3000 * 10 + 10 * WINDOW;
  messages.push(
    ...flushMessages(PARTITIONS, (account) =>
      JSON.stringify({ account, symbol: 'FLUSH', price: 1, qty: 1, ts: end }),
    ),
  );
  return { messages, trades, end };
}

/** The batch computation, written without the engine. */
function oracle(trades: readonly Trade[]): Map<string, string> {
  const byAccount = new Map<string, Trade[]>();
  for (const t of trades) {
    const id = `${t.account}@${t.ts - (t.ts % WINDOW)}`;
    byAccount.set(id, [...(byAccount.get(id) ?? []), t]);
  }
  const bySymbol = new Map<string, { notional: number; volume: number; trades: number }>();
  for (const [id, list] of byAccount) {
    if (flagged(list, MAX_TRADES, MAX_NOTIONAL)) continue;
    const start = id.slice(id.indexOf('@') + 1);
    for (const t of list) {
      const key = `${t.symbol}@${start}`;
      const a = bySymbol.get(key) ?? { notional: 0, volume: 0, trades: 0 };
      bySymbol.set(key, {
        notional: a.notional + t.price * t.qty,
        volume: a.volume + t.qty,
        trades: a.trades + 1,
      });
    }
  }
  return new Map([...bySymbol].map(([k, a]) => [k, `${a.notional}/${a.volume}/${a.trades}`]));
}

function results(out: readonly Vwap[], end: number, label: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const v of out) {
    if (v.start >= end - (end % WINDOW) - WINDOW) continue; // the flush windows
    const id = `${v.symbol}@${v.start}`;
    assert.ok(!m.has(id), `${label}: window ${id} written twice`);
    assert.equal(v.vwap, v.notional / v.volume, `${label}: ${id} vwap`);
    m.set(id, `${v.notional}/${v.volume}/${v.trades}`);
  }
  return m;
}

describe('examples/finance: fraud screening then VWAP, embedded and as a two-stage Kafka application', {
  skip: kafka.skip,
}, () => {
  it('two instances give the batch result, as the embedded run does', { timeout: 600_000 }, async () => {
    const seed = Number(process.env['EDDY_SEED'] ?? Date.now() % 100_000);
    const { messages, trades, end } = input(seed);
    const expected = oracle(trades);
    const windows = new Map<string, Trade[]>();
    for (const t of trades) {
      const id = `${t.account}@${t.ts - (t.ts % WINDOW)}`;
      windows.set(id, [...(windows.get(id) ?? []), t]);
    }
    const flaggedWindows = [...windows.values()].filter((l) => flagged(l, MAX_TRADES, MAX_NOTIONAL)).length;
    assert.ok(
      expected.size > 50 && flaggedWindows > 10 && flaggedWindows < windows.size / 2,
      `the input exercises both stages: ${flaggedWindows} of ${windows.size} account windows flagged, ${expected.size} prices`,
    );
    await runBothWays<Vwap>({
      brokers: kafka.address!.split(','),
      seed,
      module: MODULE,
      args: [
        '--window',
        String(WINDOW),
        '--disorder',
        String(DISORDER),
        '--alerts',
        `eddy-finance-alerts-${seed}`,
        '--max-trades',
        String(MAX_TRADES),
        '--max-notional',
        String(MAX_NOTIONAL),
      ],
      partitions: PARTITIONS,
      instances: 2,
      name: 'finance',
      stages: (app) => [app, `${app}-by-symbol`],
      messages,
      results: (out, label) => results(out, end, label),
      expected,
    });
  });
});
