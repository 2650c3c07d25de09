/**
 * Telling the broker's errors apart by what the client says they are (its
 * `apiId`, the Kafka protocol error's name), never by the text of a message,
 * which a client upgrade may reword (issue 13).
 */

/**
 * Whether `e` is, or wraps, the broker's error `apiId` (a Kafka protocol
 * error name such as UNSTABLE_OFFSET_COMMIT): matched by the client's error
 * fields, not by the text of its message.
 */
export function hasKafkaError(e: unknown, apiId: string): boolean {
  const found = (e as { findBy?: (property: string, value: unknown) => unknown } | null)?.findBy?.(
    'apiId',
    apiId,
  );
  return found !== null && found !== undefined;
}
