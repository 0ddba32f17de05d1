import {
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  Kind,
  type GraphQLArgument,
  type GraphQLInputType,
  type GraphQLResolveInfo,
} from 'graphql';
import { AppError, type FieldErrors } from './errors.js';

/**
 * Collects every problem of one input, so the caller fixes them all in one go; `throwIfAny`
 * answers BAD_USER_INPUT naming each field.
 */
export class InputCheck {
  private readonly errors: FieldErrors = {};

  fail(field: string, message: string): this {
    this.errors[field] ??= message;
    return this;
  }

  require(field: string, value: string | null | undefined, label = field): this {
    if (typeof value !== 'string' || value.trim() === '') this.fail(field, `${label} must not be empty`);
    return this;
  }

  email(field: string, value: string | null | undefined): this {
    if (typeof value !== 'string' || !EMAIL.test(value.trim())) this.fail(field, 'must be a valid email address');
    return this;
  }

  maxLength(field: string, value: string | null | undefined, max: number): this {
    if (typeof value === 'string' && value.length > max) this.fail(field, `must be at most ${max} characters`);
    return this;
  }

  /** The realm's password policy, checked first so the message can say exactly what is missing. */
  password(field: string, value: string | null | undefined): this {
    const problems = passwordProblems(value ?? '');
    if (problems.length > 0) this.fail(field, `Password must ${problems.join(', ')}`);
    return this;
  }

  /** The problems found so far by field, or undefined when there is none. */
  problems(): FieldErrors | undefined {
    return Object.keys(this.errors).length > 0 ? { ...this.errors } : undefined;
  }

  throwIfAny(): void {
    const fields = Object.keys(this.errors);
    if (fields.length > 0) {
      throw new AppError('BAD_USER_INPUT', `Invalid input: ${fields.map((f) => `${f} ${this.errors[f]}`).join('; ')}`, {
        fieldErrors: this.errors,
      });
    }
  }
}

/**
 * A few of `values` for a message: an answer never grows with the input (a list of 20,000
 * unknown ids is named by its first three and a count).
 */
export function someOf(values: readonly string[], max = 3): string {
  const shown = values.slice(0, max).map((value) => (value.length > 64 ? `${value.slice(0, 64)}…` : value));
  return values.length > max ? `${shown.join(', ')} and ${values.length - max} more` : shown.join(', ');
}

// Deliberately simple: one @, no spaces, a dot in the domain. Keycloak has the last word.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/**
 * An id as the gateway hands it out: a UUID in lower case, its one spelling. PostgreSQL's
 * uuid type matches an upper-case spelling too, but the loaders, the permission rules,
 * the rate-limit keys and Keycloak compare ids as text: a second spelling of one id would
 * name the same user to the writes and nobody to the checks (a user manager deleted an
 * administrator so). So anything else names nothing.
 */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Mirrors PASSWORD_POLICY in src/keycloak/provisioning.ts. */
export function passwordProblems(password: string): string[] {
  const problems: string[] = [];
  if (password.length < 8) problems.push('be at least 8 characters long');
  if (!/[A-Z]/.test(password)) problems.push('contain an upper-case letter');
  if (!/[a-z]/.test(password)) problems.push('contain a lower-case letter');
  if (!/[0-9]/.test(password)) problems.push('contain a digit');
  return problems;
}

/*
 * The edge: every argument of every field, checked once before any rule or resolver runs
 * (src/schema.ts applies `checkArguments` to each field that takes arguments). Whatever a
 * service, a permission rule or PostgreSQL receives afterwards is bounded, well-formed text:
 * no input reaches a uuid cast, a text column or Keycloak in a shape that would fail there.
 */

/** The longest password accepted anywhere; the realm's password policy may ask for less (maxLength). */
export const MAX_PASSWORD_LENGTH = 1024;

/** Bounds of every argument, whatever the operation. */
export const INPUT_LIMITS = {
  /** Characters of a string whose field STRING_LIMITS does not name. */
  string: 1000,
  /** Items of a list (id lists above all): an answer naming what is wrong stays short too. */
  list: 100,
} as const;

/** Fields that are longer or shorter by nature, by argument or input-field name. */
const STRING_LIMITS: Record<string, number> = {
  // RFC 5321: a forward path holds at most 256 octets, brackets included.
  email: 254,
  username: 255,
  password: MAX_PASSWORD_LENGTH,
  // A Keycloak refresh token, as long as the gateway accepts an access token.
  refreshToken: 16 * 1024,
};

/** Lists that are longer by nature, by argument or input-field name: importUsers' users (MAX_IMPORTED_USERS). */
const LIST_LIMITS: Record<string, number> = {
  users: 1000,
};

/** Fields where a line break is text; everywhere else CR and LF could only split a header or a log line. */
const MULTILINE_FIELDS = new Set(['description']);

// C0 controls but TAB, and DEL. PostgreSQL cannot store NUL in text at all.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const LINE_BREAK = /[\r\n]/;
// Half of a UTF-16 pair: JSON can carry it, UTF-8 (PostgreSQL, Keycloak, mail) cannot.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const DATE_RANGE = { from: Date.parse('0001-01-01T00:00:00Z'), to: Date.parse('9999-12-31T23:59:59.999Z') };

/** A date PostgreSQL and every client can represent: the years 1 to 9999. */
export function inDateRange(date: Date): boolean {
  return date.getTime() >= DATE_RANGE.from && date.getTime() <= DATE_RANGE.to;
}

/**
 * BAD_USER_INPUT naming every argument out of bounds, or nothing. Problems are keyed by
 * the argument's or input field's own name, as the services' InputCheck keys them, and
 * never quote the value.
 */
export function checkArguments(definitions: readonly GraphQLArgument[], args: Record<string, unknown>): void {
  const check = new InputCheck();
  for (const argument of definitions) checkValue(check, argument.type, argument.name, args[argument.name]);
  check.throwIfAny();
}

function checkValue(check: InputCheck, type: GraphQLInputType, name: string, value: unknown): void {
  if (value === null || value === undefined) return;
  if (isNonNullType(type)) {
    checkValue(check, type.ofType, name, value);
    return;
  }
  if (isListType(type)) {
    // GraphQL coerces a single value to a list of one.
    const items = Array.isArray(value) ? value : [value];
    const max = LIST_LIMITS[name] ?? INPUT_LIMITS.list;
    if (items.length > max) check.fail(name, `must list at most ${max} items`);
    else for (const item of items) checkValue(check, type.ofType, name, item);
    return;
  }
  if (isInputObjectType(type)) {
    const fields = type.getFields();
    for (const field of Object.values(fields)) checkValue(check, field.type, field.name, (value as Record<string, unknown>)[field.name]);
    return;
  }
  if (!isScalarType(type)) return;
  if (typeof value === 'string') checkText(check, name, value, type.name === 'ID');
  else if (value instanceof Date && !inDateRange(value)) {
    check.fail(name, 'must be a date between the years 1 and 9999');
  }
}

function checkText(check: InputCheck, name: string, value: string, isId: boolean): void {
  // Every id the API hands out is a UUID: anything else names nothing, whatever its length.
  if (isId) {
    if (!UUID.test(value)) check.fail(name, 'must be an id (a UUID, in lower case)');
    return;
  }
  const max = STRING_LIMITS[name] ?? INPUT_LIMITS.string;
  if (value.length > max) check.fail(name, `must be at most ${max} characters`);
  else if (LONE_SURROGATE.test(value)) check.fail(name, 'must be valid Unicode text (no lone surrogates)');
  else if (CONTROL.test(value) || (!MULTILINE_FIELDS.has(name) && LINE_BREAK.test(value))) {
    check.fail(name, 'must not contain control characters');
  }
}

/**
 * Whether the operation gave the field's argument `name` a value, rather than leaving it to
 * its default: written in the query, or through a variable the request (or the operation's
 * own default) sets.
 */
export function argumentGiven(info: GraphQLResolveInfo, name: string): boolean {
  const node = info.fieldNodes[0]?.arguments?.find((argument) => argument.name.value === name);
  if (!node) return false;
  return node.value.kind !== Kind.VARIABLE || Object.hasOwn(info.variableValues, node.value.name.value);
}
