/**
 * Safe decoding of external bytes for sources: JSON records under size, depth and key limits, and
 * JSON Lines splitting with stream offsets for checkpoints.
 *
 * @example
 * ```ts
 * import { LineSplitter, decodeJson } from './codec/index.ts';
 * const splitter = new LineSplitter();
 * for (const item of splitter.push(chunk)) if (!item.tooLarge) console.log(decodeJson(item.line));
 * ```
 */

export type { AvroFailure, AvroLongs, AvroResult, CompiledAvro } from './avro.ts';
export { AVRO_FAILURES, compileAvro, decodeAvro, encodeAvro, parseAvroSchema } from './avro.ts';
export type { DecodeFailure, DecodeLimits, DecodeResult } from './json.ts';
export { DECODE_FAILURES, DEFAULT_DECODE_LIMITS, decodeJson, resolveDecodeLimits } from './json.ts';
export type { Line, LineItem, LineSplitterOptions, TextLine, TextLineItem, TooLargeLine } from './lines.ts';
export { LineSplitter, lineBytes } from './lines.ts';
