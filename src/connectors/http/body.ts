/**
 * Turning a request body into records, all or nothing: `application/json`
 * is one record, or an array of records (the array counts as one level of
 * nesting, so its records may nest `maxDepth` deep); NDJSON
 * (`application/x-ndjson`, `application/jsonl`, …) is one record per line,
 * blank lines skipped. Every record goes through the codec's safe JSON
 * decoder — size, UTF-8, nesting depth, and the keys `__proto__`,
 * `constructor`, `prototype`, which are refused so they never reach an
 * object — then the user's `parse`. The first failure refuses the whole
 * request with a reason naming the line or record, so a client never has
 * to guess which part was taken.
 */
import { type DecodeLimits, decodeJson } from '../../codec/index.ts';

export type BodyKind = 'json' | 'ndjson';

const NDJSON = new Set([
  'application/x-ndjson',
  'application/ndjson',
  'application/jsonl',
  'application/x-jsonlines',
  'application/jsonlines',
]);

export const ACCEPTED_TYPES = 'application/json, application/x-ndjson (or application/jsonl)';

/** The body's kind from its `Content-Type` (parameters such as charset ignored), or undefined. */
export function bodyKind(contentType: string | undefined): BodyKind | undefined {
  const t = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (t === 'application/json') return 'json';
  return NDJSON.has(t) ? 'ndjson' : undefined;
}

export type Records<T> = { ok: true; values: T[] } | { ok: false; reason: string };

export function recordsOf<T>(
  body: Buffer,
  kind: BodyKind,
  limits: DecodeLimits,
  parse: ((value: unknown) => T) | undefined,
): Records<T> {
  const values: unknown[] = [];
  if (kind === 'json') {
    const array = firstByte(body) === 0x5b; /* [ */
    const r = decodeJson(
      body,
      array ? { maxBytes: body.length || 1, maxDepth: limits.maxDepth + 1 } : limits,
    );
    if (!r.ok) return { ok: false, reason: `${r.code}: ${r.reason}` };
    if (array) for (const v of r.value as unknown[]) values.push(v);
    else values.push(r.value);
  } else {
    let line = 0;
    for (let start = 0; start < body.length; ) {
      let end = body.indexOf(0x0a, start);
      if (end < 0) end = body.length;
      line++;
      let stop = end;
      if (stop > start && body[stop - 1] === 0x0d) stop--;
      const bytes = body.subarray(start, stop);
      start = end + 1;
      if (isBlank(bytes)) continue;
      const r = decodeJson(bytes, limits);
      if (!r.ok) return { ok: false, reason: `line ${line}: ${r.code}: ${r.reason}` };
      values.push(r.value);
    }
  }
  if (parse === undefined) return { ok: true, values: values as T[] };
  const out = new Array<T>(values.length);
  for (let i = 0; i < values.length; i++) {
    try {
      out[i] = parse(values[i]);
    } catch (e) {
      return {
        ok: false,
        reason: `record ${i + 1}: parse-failed: ${e instanceof Error ? e.message : String(e)}`,
      };
    }
  }
  return { ok: true, values: out };
}

function firstByte(b: Buffer): number {
  for (const c of b) if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return c;
  return -1;
}

function isBlank(b: Buffer): boolean {
  return firstByte(b) === -1;
}
