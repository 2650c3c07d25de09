/**
 * The headers of a Kafka application's repartition records (issue 13): where
 * the record a repartition record carries came from (its input partition and
 * offset), and why the forwarder could not key it, so the key-group task can
 * dead-letter it as it was in its input.
 */
import type { FetchedMessage } from './fetched.ts';
import { truncatedNote } from './topics.ts';

/** On a repartition record: `<offset> <topic>:<partition>` of the input record it carries. */
const SOURCE_HEADER = 'eddy.source';
export const SOURCE_HEADER_KEY = Buffer.from(SOURCE_HEADER);
/** On a repartition record the forwarder could not key: JSON [code, eddyCode, reason, input timestamp]. */
const REJECT_HEADER = 'eddy.rejected';
export const REJECT_HEADER_KEY = Buffer.from(REJECT_HEADER);

export interface Forwarded {
  /** The input partition (`topic:partition`) and offset of the record carried. */
  split: string;
  offset: bigint;
  /** The forwarder's JSON [code, eddyCode, reason, input timestamp] when it could not key the record. */
  rejected: string | undefined;
}

/** Where the record a repartition record carries came from (read for every record: no copies). */
export function forwardedOf(m: FetchedMessage): Forwarded | undefined {
  let source: string | undefined;
  let rejected: string | undefined;
  for (const [k, v] of m.headers ?? []) {
    const name = k?.toString();
    if (name === SOURCE_HEADER) source = v?.toString();
    else if (name === REJECT_HEADER) rejected = v?.toString();
  }
  if (source === undefined) return undefined;
  const space = source.indexOf(' ');
  return { split: source.slice(space + 1), offset: BigInt(source.slice(0, space)), rejected };
}

/** A record the forwarder rejected, as it was in its input partition, and why. */
export function rejectedInput(
  m: FetchedMessage,
  f: Forwarded,
): {
  original: FetchedMessage;
  code: string;
  eddyCode: string;
  reason: string;
  truncated: string | undefined;
} {
  const [code, eddyCode, reason, ts] = JSON.parse(f.rejected!) as [string, string, string, string];
  const truncated = truncatedNote(m.headers);
  const headers = new Map<Buffer, Buffer>();
  for (const [k, v] of m.headers ?? []) {
    const name = k?.toString();
    if (name !== SOURCE_HEADER && name !== REJECT_HEADER && k !== undefined && v !== undefined)
      headers.set(k, v);
  }
  const colon = f.split.lastIndexOf(':');
  const original = {
    ...m,
    topic: f.split.slice(0, colon),
    partition: Number(f.split.slice(colon + 1)),
    offset: f.offset,
    timestamp: BigInt(ts),
    headers,
  } as FetchedMessage;
  return { original, code, eddyCode, reason, truncated };
}
