import { buildSchema } from 'graphql';
import { describe, expect, it } from 'vitest';
import { AppError } from './errors.js';
import { PASSWORD_POLICY } from './keycloak/provisioning.js';
import { DateTimeScalar } from './scalars.js';
import { checkArguments, INPUT_LIMITS, MAX_PASSWORD_LENGTH, someOf } from './validation.js';

const schema = buildSchema(`
  scalar DateTime
  input Person { email: String! password: String description: String roleIds: [ID!] since: DateTime }
  type Query { probe(id: ID, name: String, input: Person, ids: [ID!]): String }
`);
Object.assign(schema.getType('DateTime')!, { parseValue: DateTimeScalar.parseValue });
const args = schema.getQueryType()!.getFields().probe!.args;

function problems(values: Record<string, unknown>): Record<string, string> | undefined {
  try {
    checkArguments(args, values);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return (error as AppError).details.fieldErrors;
  }
}

describe('checkArguments, the edge every argument passes', () => {
  it('lets well-formed values through, unicode and tabs included', () => {
    expect(
      problems({
        id: '0b7a3c1e-5a0e-4c4f-9d1e-2f1a6b7c8d9e',
        name: 'Zoë\t😀 Ω',
        input: { email: 'zoë@example.test', description: 'a\nb' },
      }),
    ).toBeUndefined();
  });

  it('refuses an id that is not a UUID, in an argument or a list, keyed by its own name', () => {
    expect(problems({ id: 'x' })).toEqual({ id: 'must be an id (a UUID, in lower case)' });
    expect(problems({ input: { email: 'a@b.c', roleIds: ['0b7a3c1e-5a0e-4c4f-9d1e-2f1a6b7c8d9e', 'role_admin'] } })).toEqual({
      roleIds: 'must be an id (a UUID, in lower case)',
    });
  });

  it('refuses control characters, line breaks outside multi-line fields, and lone surrogates', () => {
    expect(problems({ name: 'a\u0000b' })).toEqual({ name: 'must not contain control characters' });
    expect(problems({ name: 'a\r\nBcc: x' })).toEqual({ name: 'must not contain control characters' });
    expect(problems({ name: 'del\u007f' })).toEqual({ name: 'must not contain control characters' });
    expect(problems({ name: 'half \udc00' })).toEqual({ name: 'must be valid Unicode text (no lone surrogates)' });
    expect(problems({ input: { email: 'a@b.c', description: 'nul\u0000' } })).toEqual({
      description: 'must not contain control characters',
    });
  });

  it('caps strings by field and lists by count, without quoting the value', () => {
    expect(problems({ input: { email: `${'a'.repeat(250)}@b.cd` } })).toEqual({ email: 'must be at most 254 characters' });
    expect(problems({ input: { email: 'a@b.c', password: 'x'.repeat(MAX_PASSWORD_LENGTH + 1) } })).toEqual({
      password: `must be at most ${MAX_PASSWORD_LENGTH} characters`,
    });
    expect(problems({ name: 'x'.repeat(INPUT_LIMITS.string + 1) })).toEqual({ name: `must be at most ${INPUT_LIMITS.string} characters` });
    const ids = Array.from({ length: INPUT_LIMITS.list + 1 }, () => '0b7a3c1e-5a0e-4c4f-9d1e-2f1a6b7c8d9e');
    expect(problems({ ids })).toEqual({ ids: `must list at most ${INPUT_LIMITS.list} items` });
  });

  it('refuses dates outside the years 1 to 9999', () => {
    expect(problems({ input: { email: 'a@b.c', since: new Date('0000-06-01T00:00:00Z') } })).toEqual({
      since: 'must be a date between the years 1 and 9999',
    });
    expect(problems({ input: { email: 'a@b.c', since: new Date('2026-06-01T00:00:00Z') } })).toBeUndefined();
  });

  it('bounds every password the realm accepts: the policy asks for no more than the edge lets through', () => {
    const maxLength = /maxLength\((\d+)\)/.exec(PASSWORD_POLICY)?.[1];
    // Keycloak's maxLength without a number means 64.
    const policyMax = maxLength ? Number(maxLength) : PASSWORD_POLICY.includes('maxLength') ? 64 : 0;
    expect(policyMax).toBeLessThanOrEqual(MAX_PASSWORD_LENGTH);
  });
});

describe('someOf', () => {
  it('names at most three values, each shortened, and counts the rest', () => {
    expect(someOf(['a', 'b'])).toBe('a, b');
    expect(someOf(['a', 'b', 'c', 'd', 'e'])).toBe('a, b, c and 2 more');
    expect(someOf(['x'.repeat(100)])).toBe(`${'x'.repeat(64)}…`);
  });
});
