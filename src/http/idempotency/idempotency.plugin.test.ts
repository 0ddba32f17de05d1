import 'reflect-metadata';
import { getNamedType, isObjectType, type GraphQLNamedType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildPublicSchema } from '../../schema.js';
import { NOT_REPLAYABLE, requestHash } from './idempotency.plugin.js';

/** Types whose values are secrets, and fields that hold one wherever they appear. */
const SECRET_TYPES = new Set(['TokenSet']);
const SECRET_FIELDS = new Set(['token', 'accessToken', 'refreshToken', 'password', 'secret']);

/** Whether a value of `type` can hold a secret, at any depth. */
function holdsSecret(type: GraphQLNamedType, seen = new Set<string>()): boolean {
  if (SECRET_TYPES.has(type.name)) return true;
  if (!isObjectType(type) || seen.has(type.name)) return false;
  seen.add(type.name);
  return Object.values(type.getFields()).some((field) => SECRET_FIELDS.has(field.name) || holdsSecret(getNamedType(field.type), seen));
}

describe('NOT_REPLAYABLE', () => {
  it('M1: names every mutation whose answer can hold a token or another secret, so that no such answer is stored', async () => {
    const mutations = Object.values((await buildPublicSchema()).getMutationType()!.getFields());
    const secretAnswers = mutations.filter((field) => holdsSecret(getNamedType(field.type))).map((field) => field.name);
    expect(secretAnswers.length).toBeGreaterThan(0);
    expect(secretAnswers.filter((name) => !NOT_REPLAYABLE.has(name))).toEqual([]);
  });

  it('names only mutations that exist', async () => {
    const mutations = (await buildPublicSchema()).getMutationType()!.getFields();
    expect([...NOT_REPLAYABLE].filter((name) => !(name in mutations))).toEqual([]);
  });
});

describe('requestHash', () => {
  const key = Buffer.alloc(32, 1);
  it('ignores the order of variables but not their values', () => {
    const doc = 'mutation { x }';
    expect(requestHash(key, 'A', doc, { a: 1, b: { c: 2, d: 3 } })).toBe(requestHash(key, 'A', doc, { b: { d: 3, c: 2 }, a: 1 }));
    expect(requestHash(key, 'A', doc, { a: 1 })).not.toBe(requestHash(key, 'A', doc, { a: 2 }));
    expect(requestHash(key, 'A', doc, { a: 1 })).not.toBe(requestHash(key, 'B', doc, { a: 1 }));
  });

  it('answers null, without overflowing the stack, for variables nested past any input of the schema', () => {
    const doc = 'mutation { x }';
    const levels = 300_000;
    const nested = JSON.parse(`${'['.repeat(levels)}${']'.repeat(levels)}`) as unknown;
    expect(requestHash(key, 'A', doc, { extra: nested })).toBeNull();
    expect(requestHash(key, 'A', doc, { a: { b: [{ c: [1, 2] }] } })).toMatch(/^[0-9a-f]{64}$/);
  });

  it('M1: depends on a key PostgreSQL does not hold, so a stored hash cannot be checked against guessed passwords', () => {
    const variables = { userId: 'u', password: 'Summer2026!' };
    expect(requestHash(key, null, 'mutation', variables)).not.toBe(requestHash(Buffer.alloc(32, 2), null, 'mutation', variables));
  });
});
