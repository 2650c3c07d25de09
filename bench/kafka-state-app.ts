/**
 * The pipeline of the Kafka state benches (`kafka-standby`, `kafka-move`):
 * per key a count with a `pad` string beside it in keyed state, so that each
 * key's changelog entry has a known size; a key's count is emitted when it
 * reaches `rounds`. `onEvent` is called for every event handled.
 */
import type { KafkaApp } from '../src/deploy/kafka/index.ts';
import { Pipeline, valueState } from '../src/index.ts';

export function paddedCounts(
  app: KafkaApp,
  o: {
    readonly name: string;
    readonly input: string;
    readonly output: string;
    readonly pad: string;
    readonly rounds: number;
    readonly onEvent: () => void;
  },
): Pipeline {
  const p = new Pipeline({ name: o.name });
  p.source('in', app.source<{ key: string }>({ topics: [o.input] }))
    .keyBy((e) => e.key)
    .withState({ s: valueState<{ n: number; pad: string }>() })
    .process<{ key: string; n: number }>({
      processElement(e, ctx) {
        const n = (ctx.state.s.get()?.n ?? 0) + 1;
        ctx.state.s.set({ n, pad: o.pad });
        o.onEvent();
        if (n === o.rounds) ctx.emit({ key: e.key, n });
      },
    })
    .sink(app.sink({ topic: o.output, key: (c) => c.key }));
  return p;
}
