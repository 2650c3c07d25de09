/**
 * Schema-validated events: a JSON Schema (draft 2019-09 subset that ajv 8
 * compiles; draft-07 by default) compiled once into a check that any source
 * can use — as a `parse` option (kafkaSource, postgresSource: a failure is
 * dead-lettered with the reason) or as a `map` step (a failure is
 * dead-lettered as a user function's error). The reason names the instance
 * path and the rule: `schema "order" refused the record at /items/2/qty:
 * must be >= 1`.
 *
 * Records are never changed: ajv runs without `useDefaults`,
 * `coerceTypes` or `removeAdditional`, so a valid record comes out as the
 * very object that went in. Before ajv sees a record it is walked for the
 * keys `__proto__`, `constructor` and `prototype` (own keys at any depth,
 * as `JSON.parse` makes them): such a record is refused with the path of
 * the key, so it never reaches code that merges records into objects
 * (`Object.assign`, a deep merge), where `__proto__` would set a
 * prototype. A schema naming such a property is refused when compiled.
 */
import { Ajv, type AnySchema, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { configError, EddyError } from '../errors/index.ts';

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
/** Deeper records are refused before validation: the walk below and ajv's own recursion stay bounded. */
const MAX_DEPTH = 64;

export interface JsonSchemaOptions {
  /** Names the schema in reasons (default `"schema"`). */
  readonly name?: string;
  /** Report up to this many failures in a reason (default 1: ajv stops at the first, the fastest). */
  readonly maxErrors?: number;
  /**
   * An ajv instance of your own (formats from ajv-formats, custom keywords).
   * It must not be made with `useDefaults`, `coerceTypes` or
   * `removeAdditional`, which change records.
   */
  readonly ajv?: Ajv;
}

/** What a check returns: the record, or the reason it was refused. */
export type SchemaResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: string; readonly path: string };

/**
 * A compiled schema: call it to get the record back typed, or have it throw
 * an `EDDY_DECODE_FAILED` error whose message is the reason; `check` returns
 * the outcome instead of throwing.
 */
export interface JsonSchemaValidator<T> {
  (value: unknown): T;
  check(value: unknown): SchemaResult<T>;
  /** The schema's name, as reasons give it. */
  readonly schemaName: string;
}

const shared = new Map<boolean, Ajv>();
const cache = new WeakMap<object, Map<Ajv, ValidateFunction>>();

/**
 * Compiles `schema` once and returns a validator for records of type `T`
 * (`T` is yours to state; the schema is what is checked).
 *
 * @example
 * ```ts
 * const order = jsonSchema<Order>({
 *   type: 'object', required: ['id', 'qty'], additionalProperties: false,
 *   properties: { id: { type: 'string' }, qty: { type: 'integer', minimum: 1 } },
 * }, { name: 'order' });
 * p.source('orders', kafkaSource({ topics: ['orders'], groupId: 'g', parse: order })); // refused: dead-lettered
 * stream.map(order, 'validate');                                                       // or as a step
 * ```
 */
export function jsonSchema<T = unknown>(
  schema: AnySchema,
  options: JsonSchemaOptions = {},
): JsonSchemaValidator<T> {
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object'))
    throw configError('jsonSchema needs a JSON Schema object', schema, 'pass e.g. { type: "object" }');
  const name = options.name ?? 'schema';
  const maxErrors = options.maxErrors ?? 1;
  if (!Number.isInteger(maxErrors) || maxErrors < 1)
    throw configError(
      'jsonSchema maxErrors must be a whole number >= 1',
      maxErrors,
      'pass e.g. maxErrors: 5',
    );
  const bad = forbiddenKey(schema, '', 0, 'properties');
  if (bad !== undefined)
    throw configError(
      `jsonSchema ${JSON.stringify(name)} names a forbidden property at ${bad}`,
      schema,
      'records with __proto__, constructor or prototype keys are refused anyway; remove it from the schema',
    );
  const ajv = options.ajv ?? ajvFor(maxErrors > 1);
  const validate = compile(ajv, schema, name);
  const check = (value: unknown): SchemaResult<T> => {
    const key = forbiddenKey(value, '', 0, undefined);
    if (key !== undefined)
      return {
        ok: false,
        path: key,
        reason: key.startsWith('!')
          ? `schema ${JSON.stringify(name)} refused the record: nesting deeper than ${MAX_DEPTH} at ${key.slice(1)}`
          : `schema ${JSON.stringify(name)} refused the record at ${key}: the key is forbidden (__proto__, constructor, prototype)`,
      };
    if (validate(value)) return { ok: true, value: value as T };
    const errors = (validate.errors ?? []).slice(0, maxErrors);
    const first = errors[0];
    const path = first === undefined ? '/' : pathOf(first);
    return {
      ok: false,
      path,
      reason: `schema ${JSON.stringify(name)} refused the record ${errors.map(describeError).join('; ')}`,
    };
  };
  const validator = ((value: unknown): T => {
    const r = check(value);
    if (r.ok) return r.value;
    throw new EddyError('EDDY_DECODE_FAILED', r.reason);
  }) as JsonSchemaValidator<T>;
  Object.defineProperties(validator, {
    check: { value: check },
    schemaName: { value: name },
  });
  return validator;
}

function ajvFor(allErrors: boolean): Ajv {
  let ajv = shared.get(allErrors);
  if (ajv === undefined) {
    const o: Options = {
      allErrors,
      strict: true,
      useDefaults: false,
      coerceTypes: false,
      removeAdditional: false,
    };
    ajv = new Ajv(o);
    shared.set(allErrors, ajv);
  }
  return ajv;
}

function compile(ajv: Ajv, schema: AnySchema, name: string): ValidateFunction {
  const key = typeof schema === 'boolean' ? (schema ? TRUE : FALSE) : schema;
  let perAjv = cache.get(key);
  const known = perAjv?.get(ajv);
  if (known !== undefined) return known;
  let fn: ValidateFunction;
  try {
    fn = ajv.compile(schema);
  } catch (e) {
    throw configError(
      `jsonSchema ${JSON.stringify(name)} does not compile: ${e instanceof Error ? e.message : String(e)}`,
      schema,
      'fix the schema (ajv strict mode: unknown keywords and formats are errors; pass your own ajv for formats)',
    );
  }
  if (perAjv === undefined) cache.set(key, (perAjv = new Map()));
  perAjv.set(ajv, fn);
  return fn;
}
const TRUE = {};
const FALSE = {};

function pathOf(e: ErrorObject): string {
  const extra =
    e.keyword === 'required'
      ? (e.params as { missingProperty: string }).missingProperty
      : e.keyword === 'additionalProperties'
        ? (e.params as { additionalProperty: string }).additionalProperty
        : undefined;
  const base = e.instancePath === '' ? '' : e.instancePath;
  return extra === undefined ? base || '/' : `${base}/${pointerKey(extra)}`;
}

function describeError(e: ErrorObject): string {
  const at = e.instancePath === '' ? '/' : e.instancePath;
  let what = e.message ?? e.keyword;
  if (e.keyword === 'additionalProperties')
    what = `must not have property ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
  if (e.keyword === 'enum')
    what += `: ${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)}`;
  return `at ${at}: ${what}`;
}

/** JSON Pointer escaping of one key. */
function pointerKey(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * The JSON Pointer of the first own key named `__proto__`, `constructor` or
 * `prototype` (in a schema: under `properties`-like keywords when `under`
 * is given), `!<path>` when nesting passes MAX_DEPTH, else undefined.
 */
function forbiddenKey(
  value: unknown,
  path: string,
  depth: number,
  under: string | undefined,
): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > MAX_DEPTH) return `!${path || '/'}`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = forbiddenKey(value[i], `${path}/${i}`, depth + 1, under);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (under === undefined ? FORBIDDEN.has(key) : false) return `${path}/${pointerKey(key)}`;
    const child = (value as Record<string, unknown>)[key];
    if (
      under !== undefined &&
      (key === 'properties' || key === 'patternProperties' || key === 'dependentSchemas')
    ) {
      if (child !== null && typeof child === 'object')
        for (const prop of Object.keys(child))
          if (FORBIDDEN.has(prop)) return `${path}/${key}/${pointerKey(prop)}`;
    }
    if (under !== undefined && key === 'required' && Array.isArray(child)) {
      const hit = child.find((p) => FORBIDDEN.has(p as string));
      if (hit !== undefined) return `${path}/required/${pointerKey(hit as string)}`;
    }
    const found = forbiddenKey(child, `${path}/${pointerKey(key)}`, depth + 1, under);
    if (found !== undefined) return found;
  }
  return undefined;
}
