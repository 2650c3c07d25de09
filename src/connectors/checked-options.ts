/**
 * Options as data, checked once when a connector is made: each option's
 * documentation, default and a check that returns the fix when a value is
 * wrong; unknown names are refused with the known ones. Used by the MQTT and
 * PostgreSQL connectors (one copy instead of one per connector). The NATS,
 * Redis, RabbitMQ, HTTP and Kafka connectors, the run options and the Kafka
 * application use `options.ts`, whose specs also carry a type and an example
 * for `describeOptions`; the two should become one (these two connectors
 * moving to `options.ts`).
 */
import { configError } from '../errors/index.ts';

/** One option: what it means, its default (absent: required or unset), and its check. */
export interface CheckedOptionSpec {
  readonly doc: string;
  readonly default?: unknown;
  /** Returns the fix when the value is wrong, else undefined. Never called for an absent optional option. */
  readonly check: (value: unknown) => string | undefined;
  readonly required?: boolean;
}

export type CheckedOptionSchema = Readonly<Record<string, CheckedOptionSpec>>;

/**
 * Validates `options` against `schema` (unknown names are refused too, with
 * the known ones) and returns them with the defaults filled in.
 */
export function resolveCheckedOptions<R>(owner: string, schema: CheckedOptionSchema, options: unknown): R {
  if (options === null || typeof options !== 'object')
    throw configError(`${owner} needs an options object`, options, `pass e.g. ${owner}({ ... })`);
  const given = options as Record<string, unknown>;
  for (const name of Object.keys(given)) {
    if (!(name in schema) && given[name] !== undefined)
      throw configError(
        `${owner} has no option "${name}"`,
        name,
        `use one of ${Object.keys(schema).join(', ')}`,
      );
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) {
    const value = given[name];
    if (value === undefined) {
      if (spec.required)
        throw configError(`${owner} needs ${name} (${spec.doc})`, value, spec.check(value) ?? '');
      if (spec.default !== undefined) out[name] = spec.default;
      continue;
    }
    const fix = spec.check(value);
    if (fix !== undefined) throw configError(`${owner} ${name} is invalid (${spec.doc})`, value, fix);
    out[name] = value;
  }
  return out as R;
}
