import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  arraySource,
  collectSink,
  listState,
  mapState,
  outputTag,
  Pipeline,
  valueState,
} from '../../src/index.ts';
import { TestDriver } from '../../src/testing/index.ts';

interface Txn {
  readonly card: string;
  readonly amount: number;
  readonly ts: number;
}

describe('process: keyed state and timers', () => {
  it('keeps value, list and map state per key, fires event-time timers once, and emits side outputs', async () => {
    const big = outputTag<Txn>('big');
    const p = new Pipeline();
    const main = p
      .source<Txn>('txns', arraySource([]), { timestamp: (t) => t.ts })
      .keyBy((t) => t.card)
      .withState({
        total: valueState<number>(),
        recent: listState<number>(),
        byHour: mapState<number, number>(),
      })
      .process<string>(
        {
          processElement(t, ctx) {
            ctx.state.total.set((ctx.state.total.get() ?? 0) + t.amount);
            ctx.state.recent.add(t.amount);
            const hour = Math.floor(t.ts / 3_600_000);
            ctx.state.byHour.set(hour, (ctx.state.byHour.get(hour) ?? 0) + 1);
            if (t.amount > 1000) ctx.output(big, t);
            ctx.timers.registerEventTime(Math.floor(t.ts / 1000) * 1000 + 999);
          },
          onTimer(time, domain, ctx) {
            ctx.emit(
              `${ctx.key}@${time} ${domain} total=${ctx.state.total.get()} n=${ctx.state.recent.get().length}`,
            );
          },
        },
        { name: 'fraud', sideOutputs: [big] },
      );
    main.sink(collectSink(), 'out');
    main.sideOutput(big).sink(collectSink(), 'big');
    const d = await TestDriver.create(p);
    const input = d.input<Txn>('txns');
    input.send([
      { card: 'c1', amount: 10, ts: 100 },
      { card: 'c1', amount: 2000, ts: 200 },
      { card: 'c2', amount: 5, ts: 300 },
    ]);
    input.watermark(999);
    input.send([{ card: 'c1', amount: 1, ts: 1500 }]);
    await d.end();
    assert.deepEqual(d.output('out'), [
      'c1@999 event-time total=2010 n=2',
      'c2@999 event-time total=5 n=1',
      'c1@1999 event-time total=2011 n=3',
    ]);
    assert.deepEqual(
      d.output<Txn>('big').map((t) => t.amount),
      [2000],
    );
    assert.equal(d.state('fraud').get('state.total', 'c1'), 2011);
  });

  it('processing-time timers and state TTL follow the (test) clock', async () => {
    const p = new Pipeline();
    p.source<Txn>('txns', arraySource([]))
      .keyBy((t) => t.card)
      .withState({ last: valueState<number>({ ttl: 5000 }) })
      .process<string>(
        {
          processElement(t, ctx) {
            const before = ctx.state.last.get();
            ctx.state.last.set(t.amount);
            ctx.emit(`${t.card} before=${before}`);
            ctx.timers.registerProcessingTime(ctx.now() + 1000);
          },
          onTimer(time, domain, ctx) {
            ctx.emit(`${ctx.key} ${domain} ${time}`);
          },
        },
        { name: 'ttl' },
      )
      .sink(collectSink(), 'out');
    const d = await TestDriver.create(p);
    const input = d.input<Txn>('txns');
    input.send([{ card: 'a', amount: 1, ts: 0 }]);
    d.advanceProcessingTime(1000);
    input.send([{ card: 'a', amount: 2, ts: 0 }]);
    d.advanceProcessingTime(6000);
    input.send([{ card: 'a', amount: 3, ts: 0 }]);
    await d.end();
    assert.deepEqual(d.output('out'), [
      'a before=undefined',
      'a processing-time 1000',
      'a before=1',
      'a processing-time 2000',
      'a before=undefined',
    ]);
  });
});
