import { describe, expect, it } from 'vitest';
import { withoutVariableValue } from './errors.js';

const SECRET = 'P4ssw0rd-" at "x" does not exist in "Role" enum.';

describe('withoutVariableValue', () => {
  it.each([
    [
      `Variable "$filter" got invalid value "${SECRET}" at "filter.since"; Expected type "DateTime". DateTime cannot represent an invalid date-time-string ${SECRET}.`,
      'Variable "$filter" got an invalid value at "filter.since"; the value is not a valid DateTime.',
    ],
    [
      `Variable "$role" got invalid value "${SECRET}"; Value "${SECRET}" does not exist in "TenantRole" enum.`,
      'Variable "$role" got an invalid value; the value is not a valid TenantRole.',
    ],
    [
      `Variable "$role" got invalid value "ADMIM"; Value "ADMIM" does not exist in "TenantRole" enum. Did you mean the enum value "ADMIN"?`,
      'Variable "$role" got an invalid value; the value is not a valid TenantRole.',
    ],
    [
      `Variable "$first" got invalid value "${SECRET}"; Int cannot represent non-integer value: "${SECRET}"`,
      'Variable "$first" got an invalid value; the value is not a valid Int.',
    ],
    [
      `Variable "$input" got invalid value { password: "${SECRET}", extra: 1 }; Field "extra" is not defined by type "LoginInput".`,
      'Variable "$input" got an invalid value; Field "extra" is not defined by type "LoginInput".',
    ],
    [
      `Variable "$input" got invalid value { password: "${SECRET}" }; Field "username" of required type "String!" was not provided.`,
      'Variable "$input" got an invalid value; Field "username" of required type "String!" was not provided.',
    ],
    [
      `Variable "$ids" got invalid value ["${SECRET}"] at "ids[0]"; Expected type "UUID". something the scalar said about ${SECRET}`,
      'Variable "$ids" got an invalid value at "ids[0]"; the value is not a valid UUID.',
    ],
    [
      `Variable "$x" got invalid value "${SECRET}"; a reason nobody foresaw: ${SECRET}`,
      'Variable "$x" got an invalid value; the value is not valid for its type.',
    ],
  ])('keeps the name, the path and a reason, never the value: %s', (message, expected) => {
    expect(withoutVariableValue(message)).toBe(expected);
  });

  it('a value holding "; " hides where the reason starts: the answer then names neither type nor path, and still not the value', () => {
    const value = 'Echo; me; not';
    const message = `Variable "$first" got invalid value "${value}" at "first"; Int cannot represent non-integer value: "${value}"`;
    expect(withoutVariableValue(message)).toBe('Variable "$first" got an invalid value; the value is not valid for its type.');
  });

  it('leaves other messages alone', () => {
    expect(withoutVariableValue('Cannot query field "x" on type "Query".')).toBe('Cannot query field "x" on type "Query".');
  });
});
