/** Where the brokers are: options, else `KAFKA_BROKERS`, else 127.0.0.1:9092. */
import { configError } from '../../errors/index.ts';

/** The brokers: `KAFKA_BROKERS` (comma-separated host:port), else 127.0.0.1:9092. */
export function brokersOf(brokers: readonly string[] | undefined): string[] {
  const list = brokers ?? (process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(',');
  if (list.length === 0 || list.some((b) => !/^[^\s:]+:\d+$/.test(b))) {
    throw configError(
      'Kafka brokers must be host:port',
      list.join(','),
      'pass e.g. ["127.0.0.1:9092"] or set KAFKA_BROKERS',
    );
  }
  return [...list];
}
