/**
 * The peers' command lines (bench/peers/index.ts) without building them: the
 * main class and its arguments, and what each system runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { peerKafkaOnly, peerMainArgs, peerQueries } from '../../bench/peers/index.ts';

const run = { query: 'q0', eventsFile: '/tmp/e.jsonl', events: 1000, parallelism: 2 } as const;
const kafka = { inputTopic: 'in', outputTopic: 'out' } as const;

describe('spark-rt: Spark under its real-time trigger', () => {
  it('runs the stateless queries q0–q2 only', () => {
    assert.deepEqual(peerQueries('spark-rt'), ['q0', 'q1', 'q2']);
    assert.deepEqual(peerQueries('spark'), ['q0', 'q1', 'q2', 'q3', 'q5', 'q7', 'q8']);
  });

  it('is the Spark main with --trigger real-time, reading and writing the given topics', () => {
    const args = peerMainArgs({ ...run, system: 'spark-rt', brokers: '127.0.0.1:9092', kafka });
    assert.deepEqual(args, [
      'dev.eddy.peers.spark.SparkNexmark',
      '--query',
      'q0',
      '--events-file',
      '/tmp/e.jsonl',
      '--events',
      '1000',
      '--parallelism',
      '2',
      '--trigger',
      'real-time',
      '--kafka-brokers',
      '127.0.0.1:9092',
      '--input-topic',
      'in',
      '--output-topic',
      'out',
    ]);
    // The micro-batch peer: the same main without the trigger flag.
    const spark = peerMainArgs({ ...run, system: 'spark', brokers: '127.0.0.1:9092', kafka });
    assert.deepEqual(
      spark,
      args.filter((a) => a !== '--trigger' && a !== 'real-time'),
    );
  });

  it('takes extra arguments last (a peer takes a flag’s last value)', () => {
    const args = peerMainArgs({ ...run, system: 'spark-rt', kafka, args: ['--trigger-ms', '5000'] });
    assert.deepEqual(args.slice(-2), ['--trigger-ms', '5000']);
  });

  it('refuses to run without Kafka topics, saying why', () => {
    assert.match(peerKafkaOnly('spark-rt') ?? '', /real-time mode reads only .* Kafka source/);
    assert.equal(peerKafkaOnly('spark'), undefined);
    assert.throws(
      () => peerMainArgs({ ...run, system: 'spark-rt' }),
      /spark-rt runs in Kafka mode only .*--transport kafka/,
    );
    assert.doesNotThrow(() => peerMainArgs({ ...run, system: 'spark' }));
  });
});
