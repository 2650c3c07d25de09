/**
 * Connector options as data (STYLE.md: "options are a schema"): each option
 * is declared once with its type, bounds, default and one line of
 * documentation; `resolveOptions` validates a connector's options against it
 * once, at construction, fills in the defaults and refuses unknown names
 * (a typo such as `ackWait` for `ackWaitMs` is an error, not a silent
 * default). Errors read "what is wrong; what was received; what to do" and
 * name the option. `describeOptions` renders the same schema as text, so a
 * CLI or a README table cannot drift from it.
 *
 * @example
 * ```ts
 * const schema = {
 *   url: { type: 'string', default: 'nats://127.0.0.1:4222', doc: 'the server', example: '"nats://host:4222"' },
 *   batch: { type: 'integer', min: 1, default: 100, doc: 'records per request', example: '100' },
 * } satisfies OptionsSchema<{ url?: string; batch?: number }>;
 * const o = resolveOptions('demoSource', schema, { batch: 10 }); // { url: 'nats://127.0.0.1:4222', batch: 10 }
 * ```
 */
import { configError, describe } from '../errors/index.ts';

/** How one option is checked. */
export type OptionSpec =
  | (Common<string> & {
      readonly type: 'string';
      /** The value must match (after the non-empty check); `rule` says what it means. */
      readonly pattern?: RegExp;
      readonly rule?: string;
    })
  | (Common<readonly string[]> & {
      readonly type: 'strings';
      readonly pattern?: RegExp;
      readonly rule?: string;
    })
  | (Common<number> & { readonly type: 'integer'; readonly min?: number; readonly max?: number })
  | (Common<boolean> & { readonly type: 'boolean' })
  | (Common<never> & { readonly type: 'function' })
  /** Anything else (an object checked by its own resolver, such as decode limits, or a union of forms). */
  | (Common<unknown> & { readonly type: 'any'; readonly check?: (value: unknown) => boolean });

interface Common<T> {
  /** One line: what the option does and how to size it. */
  readonly doc: string;
  /** A valid value as the user would write it, for error messages. */
  readonly example: string;
  readonly default?: T;
  /** Absent, or given empty (`''`, `[]`), the option is refused as missing. */
  readonly required?: boolean;
  /**
   * What a refusal of the missing required option says is needed, as in
   * `kafkaSink needs a topic`; default the option's name and its doc.
   */
  readonly needs?: string;
}

/** A schema for the options object `O`: every option of `O` is declared. */
export type OptionsSchema<O> = { readonly [K in keyof O]-?: OptionSpec };

/** `O` with the options that have defaults present. */
export type Resolved<O, S> = O & {
  readonly [K in keyof O & keyof S as S[K] extends { default: unknown } ? K : never]-?: Exclude<
    O[K],
    undefined
  >;
};

/**
 * Validates `given` against `schema` for connector `what` (named in errors),
 * fills in defaults and returns a new object; throws `EDDY_CONFIG_INVALID`
 * naming the first bad option. A `strings` option also takes one string.
 */
export function resolveOptions<O extends object, S extends OptionsSchema<O>>(
  what: string,
  schema: S,
  given: O,
): Resolved<O, S> {
  if (typeof given !== 'object' || given === null) {
    throw configError(`${what} needs an options object`, given, `pass e.g. ${what}({ ... })`);
  }
  const specs = schema as unknown as Record<string, OptionSpec>;
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(specs, name)) {
      throw configError(
        `${what} has no option "${name}"`,
        name,
        `use one of ${Object.keys(specs).join(', ')}`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const value = (given as Record<string, unknown>)[name];
    // An empty topic list or name is no more an answer than none (`kafkaSource({ topics: [] })`).
    const empty = value === '' || (Array.isArray(value) && value.length === 0);
    if (value === undefined || (spec.required === true && empty)) {
      if (spec.required === true) {
        throw configError(
          `${what} needs ${spec.needs ?? `${name} (${spec.doc})`}`,
          value,
          `pass { ${name}: ${spec.example} }`,
        );
      }
      if (spec.default !== undefined) out[name] = spec.default;
      continue;
    }
    out[name] = check(what, name, spec, value);
  }
  return out as Resolved<O, S>;
}

function check(what: string, name: string, spec: OptionSpec, value: unknown): unknown {
  const bad = (rule: string): never => {
    throw configError(`${what} option ${name} ${rule}`, value, `pass e.g. { ${name}: ${spec.example} }`);
  };
  switch (spec.type) {
    case 'string':
      // The rule, when there is one, says what a valid value looks like whatever was wrong with this one.
      if (typeof value !== 'string' || value === '') bad(spec.rule ?? 'must be a non-empty string');
      if (spec.pattern !== undefined && !spec.pattern.test(value as string))
        bad(spec.rule ?? `must match ${spec.pattern}`);
      return value;
    case 'strings': {
      const list = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(list) || list.length === 0) bad('must be a string or a non-empty array of strings');
      for (const item of list as unknown[]) {
        if (typeof item !== 'string' || item === '')
          bad(`must hold non-empty strings (one is ${describe(item)})`);
        if (spec.pattern !== undefined && !spec.pattern.test(item as string))
          bad(`${spec.rule ?? `items must match ${spec.pattern}`} (one is ${describe(item)})`);
      }
      return Object.freeze([...(list as string[])]);
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) bad('must be a whole number');
      if (spec.min !== undefined && (value as number) < spec.min) bad(`must be at least ${spec.min}`);
      if (spec.max !== undefined && (value as number) > spec.max) bad(`must be at most ${spec.max}`);
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') bad('must be true or false');
      return value;
    case 'function':
      if (typeof value !== 'function') bad('must be a function');
      return value;
    case 'any':
      if (spec.check !== undefined && !spec.check(value)) bad(`is not valid (${spec.doc})`);
      return value;
  }
}

/**
 * The schema as lines of text — name, type, default, doc — for `--help`
 * output and documentation.
 *
 * @example
 * ```ts
 * console.log(describeOptions(NATS_SOURCE_OPTIONS).join('\n'));
 * ```
 */
export function describeOptions(schema: Record<string, OptionSpec>): string[] {
  return Object.entries(schema).map(([name, s]) => {
    const dflt =
      s.required === true
        ? 'required'
        : s.default === undefined
          ? 'optional'
          : `default ${JSON.stringify(s.default)}`;
    return `${name} (${s.type}, ${dflt}): ${s.doc}`;
  });
}
