/**
 * Closing a group consumer so that nothing of it outlives the close.
 *
 * The client (@platformatic/kafka 2.12) leaves the group when it closes but
 * keeps its membership marked active, and a join that is in flight while it
 * closes (a rebalance, or a rejoin the application asked for) may complete
 * after the leave and arm a heartbeat. That heartbeat then fails on the
 * closed client, and a failure that is not a group error schedules the next
 * one: a timer every `heartbeatInterval` for ever, with no connection, which
 * keeps the process from exiting after everything else has closed (seen as a
 * CI test process alive after its tests passed; reproduced by closing within
 * a few milliseconds of a `joinGroup`). `leaveGroup` first marks the
 * membership inactive, which every join and heartbeat path checks, so the
 * loop cannot start; `close` then has no group to leave and only closes.
 */
import type { Consumer } from '@platformatic/kafka';

/**
 * How long the leave may take before the consumer is closed anyway (ms).
 * With the brokers away the client retries a leave for about 16 s, and when
 * it fails it marks the membership active again, so `close` would retry the
 * leave as long: a run failing because the brokers are gone took twice as
 * long to stop (CI: the broker-restart test's reconnectTimeoutMs case). Past
 * this bound the leave goes on in the background while the consumer closes:
 * the membership is inactive meanwhile and the leave has cancelled the
 * heartbeat, so nothing is left to loop.
 */
const LEAVE_WAIT_MS = 2000;

/** Leaves the group (closing the consumer's streams), then closes; never rejects. */
export async function closeConsumer(consumer: Pick<Consumer, 'leaveGroup' | 'close'>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    // The callback form: the client's typings give the promise form only to a call without arguments.
    new Promise<void>((resolve) => consumer.leaveGroup(true, () => resolve())),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, LEAVE_WAIT_MS))),
  ]);
  clearTimeout(timer);
  await consumer.close(true).catch(() => {});
}
