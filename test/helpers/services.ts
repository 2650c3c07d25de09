/**
 * Integration suites need real services. Under CI=true a missing service is a
 * failure; elsewhere the suite is skipped with one loud line saying how to start it.
 */
import { Socket } from 'node:net';

export interface Service {
  /** Where it is, or undefined when it is not reachable. */
  readonly address: string | undefined;
  /** The `skip` option for node:test: false when reachable (or under CI, which must fail instead). */
  readonly skip: string | false;
}

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

/** The Kafka broker of `KAFKA_BROKERS` (default 127.0.0.1:9092, started by `npm run kafka:up`). */
export async function kafkaService(): Promise<Service> {
  const brokers = process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092';
  const [host, port] = brokers.split(',')[0]!.split(':');
  const ok = await reachable(host ?? '127.0.0.1', Number(port ?? 9092));
  if (ok) return { address: brokers, skip: false };
  if (process.env['CI'] === 'true') return { address: undefined, skip: false };
  const why = `Kafka is not reachable at ${brokers}: start it with "npm run kafka:up" (or set KAFKA_BROKERS)`;
  process.stderr.write(`\n!!! SKIPPING Kafka suite — ${why}\n\n`);
  return { address: undefined, skip: why };
}
