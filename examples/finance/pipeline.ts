/**
 * Finance reference pipeline: fraud screening per account, then VWAP per
 * symbol, over a Kafka topic of trades — two keyings, so under
 * `eddy run --kafka` it runs as a Kafka application of two stages (issue 13;
 * docs/KAFKA.md "Several keyed stages").
 *
 * 1. **Screening**, keyed by account: an account that trades more than
 *    `--max-trades` times, or for more than `--max-notional` (cents), in one
 *    window is flagged — the window's trades go to the alerts topic as one
 *    alert and are left out of the prices.
 * 2. **VWAP**, keyed by symbol: per symbol and window, the volume-weighted
 *    average price of the trades that passed (Σ price × quantity ÷ Σ
 *    quantity), with the volume and the number of trades.
 *
 * Prices are integer cents, so sums are exact and the result does not
 * depend on the order trades are added in.
 *
 *   eddy run examples/finance/pipeline.ts --input trades --output vwap --alerts trade-alerts
 *   eddy run examples/finance/pipeline.ts --input trades --output vwap --alerts trade-alerts \
 *     --kafka 127.0.0.1:9092 --app-id finance
 */
import { kafkaSink, kafkaSource } from '../../src/connectors/kafka/index.ts';
import { definePipeline, Pipeline, tumbling } from '../../src/index.ts';

export interface Trade {
  readonly account: string;
  readonly symbol: string;
  /** Integer cents. */
  readonly price: number;
  readonly qty: number;
  readonly ts: number;
}

export interface Alert {
  readonly account: string;
  readonly start: number;
  readonly trades: number;
  readonly notional: number;
}

export interface Vwap {
  readonly symbol: string;
  readonly start: number;
  readonly vwap: number;
  /** Σ price × quantity (cents). */
  readonly notional: number;
  readonly volume: number;
  readonly trades: number;
}

/** Whether an account's trades in one window are suspicious (the screening rule, shared with the tests). */
export function flagged(trades: readonly Trade[], maxTrades: number, maxNotional: number): boolean {
  const notional = trades.reduce((s, t) => s + t.price * t.qty, 0);
  return trades.length > maxTrades || notional > maxNotional;
}

export default definePipeline({
  name: 'finance',
  description: 'fraud screening per account, then VWAP per symbol and window, Kafka to Kafka',
  options: {
    brokers: { type: 'string', default: '127.0.0.1:9092', description: 'Kafka brokers (host:port,...)' },
    input: { type: 'string', default: 'trades', description: 'the topic of trades' },
    output: { type: 'string', default: 'vwap', description: 'the topic the VWAPs go to' },
    alerts: { type: 'string', default: 'trade-alerts', description: 'the topic flagged accounts go to' },
    group: { type: 'string', default: 'finance', description: 'the consumer group of the embedded run' },
    window: { type: 'number', default: 1000, min: 1, description: 'window length (ms)' },
    disorder: {
      type: 'number',
      default: 500,
      min: 0,
      description: 'how far (ms) trades may arrive out of order',
    },
    'max-trades': {
      type: 'number',
      default: 8,
      min: 1,
      description: 'trades per account and window before it is flagged',
    },
    'max-notional': {
      type: 'number',
      default: 5_000_000,
      min: 1,
      description: 'cents per account and window before it is flagged',
    },
  },
  build: (o) => {
    const brokers = o.brokers.split(',');
    const p = new Pipeline({ name: 'finance' });
    const screened = p
      .source('trades', kafkaSource<Trade>({ topics: [o.input], groupId: o.group, brokers }), {
        timestamp: (t) => t.ts,
        maxOutOfOrderness: o.disorder,
      })
      .filter(
        (t) => typeof t.account === 'string' && Number.isInteger(t.price) && Number.isInteger(t.qty),
        'valid',
      )
      .keyBy((t) => t.account, 'by-account')
      .window(tumbling(o.window))
      .aggregate<Trade[], Trade[]>(
        {
          create: () => [],
          add: (list, t) => {
            list.push(t);
            return list;
          },
          merge: (a, b) => a.concat(b),
          result: (list) => list,
        },
        'screen',
      )
      .map((w) => ({ account: w.key, start: w.window.start, trades: w.value }), 'windows');
    screened
      .filter((w) => flagged(w.trades, o['max-trades'], o['max-notional']), 'flagged')
      .map(
        (w): Alert => ({
          account: w.account,
          start: w.start,
          trades: w.trades.length,
          notional: w.trades.reduce((s, t) => s + t.price * t.qty, 0),
        }),
        'alert',
      )
      .sink(
        kafkaSink<Alert>({ topic: o.alerts, brokers, key: (a) => a.account, createTopic: { partitions: 1 } }),
        'alerts',
      );
    screened
      .filter((w) => !flagged(w.trades, o['max-trades'], o['max-notional']), 'passed')
      .flatMap((w) => w.trades, 'passed-trades')
      .keyBy((t) => t.symbol, 'by-symbol')
      .window(tumbling(o.window))
      .aggregate(
        {
          create: () => ({ notional: 0, volume: 0, trades: 0 }),
          add: (a, t: Trade) => ({
            notional: a.notional + t.price * t.qty,
            volume: a.volume + t.qty,
            trades: a.trades + 1,
          }),
          merge: (a, b) => ({
            notional: a.notional + b.notional,
            volume: a.volume + b.volume,
            trades: a.trades + b.trades,
          }),
          result: (a) => a,
        },
        'vwap',
      )
      .map(
        (w): Vwap => ({
          symbol: w.key,
          start: w.window.start,
          vwap: w.value.notional / w.value.volume,
          ...w.value,
        }),
        'result',
      )
      .sink(kafkaSink<Vwap>({ topic: o.output, brokers, key: (v) => v.symbol }), 'prices');
    return p;
  },
});
