/**
 * Records eddy could not process — undecodable input, a user function that
 * threw, an unusable timestamp — with the reason. They go to the pipeline's
 * dead-letter output (`pipeline.deadLetters()`), or, when nothing reads that,
 * to standard error as JSON lines: never silently dropped.
 */

/** One record that could not be processed. */
export interface DeadLetter {
  /** The step that gave up on the record. */
  readonly step: string;
  /** An eddy error code, e.g. `EDDY_DECODE_FAILED`. */
  readonly code: string;
  /** What was wrong, for a person. */
  readonly reason: string;
  /** The record: its raw text, JSON, or `base64:` and its bytes when it is not valid UTF-8. */
  readonly payload: string;
  /** The record's event time when known, else NaN. */
  readonly eventTime: number;
  /** When it was dead-lettered (processing time, epoch ms). */
  readonly at: number;
}

const MAX_PAYLOAD = 64 * 1024;

/** Renders any record as dead-letter payload text, bounded in size. */
export function payloadText(payload: unknown): string {
  let text: string;
  if (typeof payload === 'string') text = payload;
  else if (payload instanceof Uint8Array) {
    // A record refused for its size may be megabytes: decode only what is kept (a character cut
    // at the end is not invalid UTF-8).
    const bytes = payload.byteLength > MAX_PAYLOAD * 4 ? payload.subarray(0, MAX_PAYLOAD * 4) : payload;
    const cut = bytes.byteLength < payload.byteLength;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: cut });
    } catch {
      text = `base64:${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
    }
  } else {
    try {
      text = JSON.stringify(payload) ?? String(payload);
    } catch {
      text = String(payload);
    }
  }
  return text.length > MAX_PAYLOAD ? `${text.slice(0, MAX_PAYLOAD)}…(truncated)` : text;
}
