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

const CLIENT_CODES = new Set(['PLT_KFK_NETWORK', 'PLT_KFK_TIMEOUT']);

/**
 * Whether a failure came from the brokers being away or busy for a while
 * (connections refused, timeouts, a coordinator loading or moving, a leader
 * election, a transaction still completing), and nothing else: every error
 * in it, followed through `errors` and `cause`, is the client's network
 * error or a protocol error the client marks retriable. Such failures are
 * waited out for `reconnectTimeoutMs`, as Kafka Streams' `task.timeout.ms`
 * does, instead of counting against the restart strategy's failure limit; a
 * refused record, a fenced producer or a user's error is not one of them.
 */
export function isTransientKafkaError(e: unknown): boolean {
  let found = false;
  const transient = (x: unknown, depth: number): boolean => {
    if (depth > 16 || x === null || typeof x !== 'object') return false;
    const err = x as { code?: unknown; canRetry?: unknown; errors?: unknown; cause?: unknown };
    if (Array.isArray(err.errors) && err.errors.length > 0)
      return err.errors.every((inner) => transient(inner, depth + 1));
    if (typeof err.code === 'string' && CLIENT_CODES.has(err.code)) return (found = true);
    if (err.code === 'PLT_KFK_PROTOCOL') return err.canRetry === true && (found = true);
    // eddy's own errors other than I/O (a misconfiguration, a user's function) never are.
    if (typeof err.code === 'string' && err.code.startsWith('EDDY_') && err.code !== 'EDDY_IO_FAILED')
      return false;
    // The client's other errors and eddy's own: transient only as a wrapper of a transient cause.
    return err.cause !== undefined && transient(err.cause, depth + 1);
  };
  return transient(e, 0) && found;
}

/** An error's message with its causes (the client nests the broker's error codes). */
export function errorText(e: unknown, depth = 0): string {
  if (!(e instanceof Error)) return String(e);
  const parts = [e.message];
  const x = e as Error & { errors?: unknown[]; apiCode?: number; apiId?: string; cause?: unknown };
  if (x.apiId !== undefined) parts.push(`(${x.apiId} ${x.apiCode ?? ''})`);
  if (depth < 3) {
    for (const inner of x.errors ?? []) parts.push(`: ${errorText(inner, depth + 1)}`);
    if (x.cause !== undefined) parts.push(`: ${errorText(x.cause, depth + 1)}`);
  }
  return parts.join(' ');
}
