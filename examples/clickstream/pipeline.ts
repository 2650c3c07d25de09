/**
 * Page views per user and 10 s window, from a Kafka topic of click events
 * (JSON: { user, page, ts }) to a Kafka topic of counts. One module, two
 * deployments:
 *
 *   eddy run examples/clickstream/pipeline.ts                  # embedded: one process, a consumer group
 *   eddy run examples/clickstream/pipeline.ts --kafka 127.0.0.1:9092 --app-id clicks
 *                                                                # one instance of a Kafka application:
 *                                                                # start it 3 times to share the partitions
 *
 * Embedded it is at-least-once (a crash may write a window's count twice);
 * as a Kafka application the counts are written exactly once, each window's
 * state in a changelog topic, and instances come and go without a loss.
 * Clicks without a user are dropped before the keyBy; malformed JSON goes to
 * the dead-letter output.
 */

import { kafkaSink, kafkaSource } from '../../src/connectors/kafka/index.ts';
import { definePipeline, Pipeline, tumbling } from '../../src/index.ts';

export interface Click {
  readonly user: string;
  readonly page: string;
  readonly ts: number;
}

export interface ViewCount {
  readonly user: string;
  readonly start: number;
  readonly views: number;
}

export default definePipeline({
  name: 'clickstream',
  description: 'page views per user and 10 s window, Kafka topic to Kafka topic',
  options: {
    brokers: {
      type: 'string',
      default: '127.0.0.1:9092',
      description: 'Kafka brokers of the embedded run (host:port,...)',
    },
    input: { type: 'string', default: 'clicks', description: 'the topic of click events' },
    output: { type: 'string', default: 'click-counts', description: 'the topic the counts go to' },
    group: { type: 'string', default: 'clickstream', description: 'the consumer group of the embedded run' },
    window: { type: 'number', default: 10_000, min: 1, description: 'window length (ms)' },
    disorder: {
      type: 'number',
      default: 2_000,
      min: 0,
      description: 'how far (ms) clicks may arrive out of order',
    },
  },
  build: (o) => {
    const brokers = o.brokers.split(',');
    const p = new Pipeline({ name: 'clickstream' });
    p.source('clicks', kafkaSource<Click>({ topics: [o.input], groupId: o.group, brokers }), {
      timestamp: (c) => c.ts,
      maxOutOfOrderness: o.disorder,
    })
      .filter((c) => typeof c.user === 'string' && c.user !== '')
      .keyBy((c) => c.user)
      .window(tumbling(o.window))
      .count()
      .map((w): ViewCount => ({ user: w.key, start: w.window.start, views: w.value }))
      .sink(kafkaSink<ViewCount>({ topic: o.output, brokers, key: (v) => v.user }));
    return p;
  },
});
