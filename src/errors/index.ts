/**
 * eddy's one error type. Every error the framework raises is an {@link EddyError}
 * with a code from a closed set, a domain (whose fault it is), a retry hint and,
 * where one is involved, the id of the step that raised it.
 *
 * Messages read "what is wrong; what was received; what to do".
 *
 * @example
 * ```ts
 * try { pipeline.validate(); } catch (e) {
 *   if (e instanceof EddyError && e.code === 'EDDY_CONFIG_INVALID') console.error(e.message);
 * }
 * ```
 */

/** The closed set of error codes. */
export const ERROR_CODES = [
  /** An option or argument has a value it may not have. */
  'EDDY_CONFIG_INVALID',
  /** A step id is malformed or already used. */
  'EDDY_STEP_ID_INVALID',
  /** The graph cannot be planned (a cycle, a dangling stream, a window without event time). */
  'EDDY_PLAN_INVALID',
  /** Input bytes could not be decoded (bad UTF-8, bad JSON, too large, too deep, forbidden key). */
  'EDDY_DECODE_FAILED',
  /** A user function threw while processing a record. */
  'EDDY_USER_FUNCTION_FAILED',
  /** An event arrived after its window's allowed lateness. */
  'EDDY_LATE_EVENT',
  /** A source or sink failed talking to the outside world. */
  'EDDY_IO_FAILED',
  /** A destination cannot take a record (too large for it): the sink dead-letters it, cut, instead of failing for ever. */
  'EDDY_RECORD_REFUSED',
  /** A pipeline was used in a state that does not allow it (run twice, closed). */
  'EDDY_STATE_INVALID',
  /** A checkpoint or savepoint is unreadable, torn, or does not fit the pipeline. */
  'EDDY_CHECKPOINT_INVALID',
  /** A bug in eddy itself. */
  'EDDY_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Whose fault an error is: the user's code or configuration, an external system, or eddy. */
export type ErrorDomain = 'user' | 'external' | 'internal';

export interface EddyErrorOptions {
  readonly cause?: unknown;
  readonly stepId?: string;
  /** Whether retrying the same operation may succeed. */
  readonly retriable?: boolean;
  readonly domain?: ErrorDomain;
}

const DEFAULT_DOMAIN: Record<ErrorCode, ErrorDomain> = {
  EDDY_CONFIG_INVALID: 'user',
  EDDY_STEP_ID_INVALID: 'user',
  EDDY_PLAN_INVALID: 'user',
  EDDY_DECODE_FAILED: 'external',
  EDDY_USER_FUNCTION_FAILED: 'user',
  EDDY_LATE_EVENT: 'external',
  EDDY_IO_FAILED: 'external',
  EDDY_RECORD_REFUSED: 'external',
  EDDY_STATE_INVALID: 'user',
  EDDY_CHECKPOINT_INVALID: 'external',
  EDDY_INTERNAL: 'internal',
};

/**
 * The base class of every error eddy raises.
 *
 * @example
 * ```ts
 * throw new EddyError('EDDY_CONFIG_INVALID', 'rate must be > 0; received -5; pass a positive number of events per second');
 * ```
 */
export class EddyError extends Error {
  override readonly name = 'EddyError';
  readonly code: ErrorCode;
  readonly domain: ErrorDomain;
  readonly retriable: boolean;
  readonly stepId: string | undefined;

  constructor(code: ErrorCode, message: string, options: EddyErrorOptions = {}) {
    super(options.stepId === undefined ? message : `[${options.stepId}] ${message}`, {
      cause: options.cause,
    });
    this.code = code;
    this.domain = options.domain ?? DEFAULT_DOMAIN[code];
    this.retriable = options.retriable ?? false;
    this.stepId = options.stepId;
  }
}

/** Shorthand for a configuration error: names the bad value and the fix. */
export function configError(what: string, received: unknown, fix: string, stepId?: string): EddyError {
  return new EddyError('EDDY_CONFIG_INVALID', `${what}; received ${describe(received)}; ${fix}`, {
    ...(stepId === undefined ? {} : { stepId }),
  });
}

/** A short, safe rendering of a received value for an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value;
}
