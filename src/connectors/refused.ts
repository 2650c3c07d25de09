/**
 * A record a destination cannot take — larger than the broker or server
 * accepts — must not fail the run: the restart would meet the same record
 * and fail again, for ever. Sinks check each record's size against the
 * destination's limit before sending and hand the ones over it to the
 * pipeline's dead letters with the reason (`SinkContext.deadLetter`; the
 * payload is cut to 64 KiB there). Opened by hand, without a runtime, the
 * sink fails instead, with an error that is not retried.
 *
 * @example
 * ```ts
 * if (bytes > limit) refuse(ctx, tooLarge('natsSink', bytes, limit, 'the server\'s max_payload'), payload);
 * ```
 */
import type { SinkContext } from '../core/connector.ts';
import { EddyError } from '../errors/index.ts';

/** The reason for a record over a destination's limit: its size, the limit, and which limit it is. */
export function tooLarge(owner: string, bytes: number, limit: number, which: string): string {
  return `${owner}: a record of ${bytes} bytes is larger than ${which} (${limit} bytes); dead-lettered, not sent — make the record smaller or raise the limit`;
}

/** Dead-letters `payload` with `reason` (code EDDY_RECORD_REFUSED), or fails when the sink runs without a runtime. */
export function refuse(ctx: SinkContext, reason: string, payload: unknown): void {
  if (ctx.deadLetter === undefined)
    throw new EddyError('EDDY_RECORD_REFUSED', reason, { stepId: ctx.stepId, retriable: false });
  ctx.deadLetter('EDDY_RECORD_REFUSED', reason, payload);
}
