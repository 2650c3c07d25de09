/**
 * `resolveOptions` (connectors/options.ts), the schema check every connector
 * and the run options use: a required option given empty is refused as
 * missing (with the schema's `needs` wording when it has one), and a string
 * option with a rule states that rule whatever was wrong with the value.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type OptionsSchema, resolveOptions } from '../../src/connectors/options.ts';

interface Demo {
  readonly topic?: string;
  readonly topics?: readonly string[];
  readonly id?: string;
  readonly size?: number;
}

const SCHEMA = {
  topic: { type: 'string', required: true, needs: 'a topic', doc: 'the topic', example: '"t"' },
  topics: { type: 'strings', required: true, doc: 'the topics read', example: '["t"]' },
  id: {
    type: 'string',
    pattern: /^[a-z]+$/,
    rule: 'must be lower-case letters',
    doc: 'an id',
    example: '"ab"',
  },
  size: { type: 'integer', min: 1, default: 10, doc: 'a size', example: '10' },
} as const satisfies OptionsSchema<Demo>;

describe('resolveOptions', () => {
  it('refuses a required option given empty as missing, in the schema’s words', () => {
    assert.throws(
      () => resolveOptions('demo', SCHEMA, { topic: '', topics: ['t'] }),
      /: demo needs a topic; received ""; pass \{ topic: "t" \}$/,
    );
    assert.throws(
      () => resolveOptions('demo', SCHEMA, { topic: 't', topics: [] }),
      /: demo needs topics \(the topics read\); received an array of 0; pass \{ topics: \["t"\] \}$/,
    );
  });

  it('states a string option’s rule for a wrong type or an empty value too', () => {
    for (const id of ['', 7, 'AB'])
      assert.throws(
        () => resolveOptions('demo', SCHEMA, { topic: 't', topics: ['t'], id } as Demo),
        /: demo option id must be lower-case letters; received .*; pass e\.g\. \{ id: "ab" \}$/,
        String(id),
      );
  });

  it('fills in defaults and keeps given values', () => {
    assert.deepEqual(resolveOptions('demo', SCHEMA, { topic: 't', topics: 'u' as unknown as string[] }), {
      topic: 't',
      topics: ['u'],
      size: 10,
    });
  });
});
