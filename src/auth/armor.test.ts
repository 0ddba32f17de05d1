import 'reflect-metadata';
import { getIntrospectionQuery, parse, specifiedRules, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { aliasedQuery, BIGGEST_LISTING, deepQuery } from '../../test/support/documents.js';
import { buildPublicSchema } from '../schema.js';
import { QUERY_LIMITS, queryLimits } from './armor.js';

// The limits against the real schema: what our clients send passes, what attacks send
// does not. The integration suite checks the same through HTTP.
const schema = await buildPublicSchema();
const { validationRules, parseOptions } = queryLimits();

/** The messages of every reason the document is refused; none for an accepted one. */
function refusals(document: string): string[] {
  try {
    return validate(schema, parse(document, parseOptions), [...specifiedRules, ...validationRules]).map((error) => error.message);
  } catch (syntaxError) {
    return [(syntaxError as Error).message];
  }
}

describe('query limits', () => {
  it('accept the biggest listing clients send', () => {
    expect(refusals(BIGGEST_LISTING)).toEqual([]);
  });

  it(`accept ${QUERY_LIMITS.aliases} aliased mutations with variables, as a client retrying a login sends`, () => {
    const calls = Array.from({ length: QUERY_LIMITS.aliases }, (_, i) => i);
    const mutation = `mutation Batch(${calls.map((i) => `$input${i}: CreateUserInput!`).join(', ')}) {
      ${calls.map((i) => `call${i}: createUser(input: $input${i}) { user { id } }`).join('\n')}
    }`;
    expect(refusals(mutation)).toEqual([]);
  });

  it('accept GraphiQL’s introspection query', () => {
    expect(refusals(getIntrospectionQuery())).toEqual([]);
  });

  it(`accept ${QUERY_LIMITS.depth} levels and refuse one more`, () => {
    expect(refusals(deepQuery(QUERY_LIMITS.depth))).toEqual([]);
    expect(refusals(deepQuery(QUERY_LIMITS.depth + 1))).toEqual([expect.stringContaining('depth limit')]);
  });

  it(`accept ${QUERY_LIMITS.aliases} aliases and refuse one more`, () => {
    expect(refusals(aliasedQuery(QUERY_LIMITS.aliases))).toEqual([]);
    expect(refusals(aliasedQuery(QUERY_LIMITS.aliases + 1))).toEqual([expect.stringContaining('Aliases limit')]);
  });

  it.each([
    ['a query 20 levels deep', deepQuery(20), 'depth limit'],
    ['200 aliases', aliasedQuery(200), 'Aliases limit'],
    [
      'a page of users each listing its groups’ 100 users',
      '{ users(first: 100) { edges { node { groups { users(first: 100) { edges { node { id } } } } } } } }',
      'Cost limit',
    ],
    [`${QUERY_LIMITS.directives + 1} directives`, aliasedQuery(QUERY_LIMITS.directives + 1, '@include(if: true)'), 'Directives limit'],
    ['more tokens than allowed', `{ ${'publicHello '.repeat(QUERY_LIMITS.tokens)}}`, `${QUERY_LIMITS.tokens} tokens`],
  ])('refuse %s', (_name, document, reason) => {
    expect(refusals(document)).toContainEqual(expect.stringContaining(reason));
  });
});
