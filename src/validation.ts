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

  ids(field: string, values: readonly string[] | null | undefined, what: string): this {
    if (values === null) return this.fail(field, `must be a list of ${what} ids (an empty list for none)`);
    const bad = (values ?? []).filter((value) => !UUID.test(value));
    if (bad.length > 0) this.fail(field, `must be ${what} ids (UUIDs), not names: ${bad.slice(0, 3).join(', ')}`);
    return this;
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

// Deliberately simple: one @, no spaces, a dot in the domain. Keycloak has the last word.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Mirrors PASSWORD_POLICY in src/keycloak/provisioning.ts. */
export function passwordProblems(password: string): string[] {
  const problems: string[] = [];
  if (password.length < 8) problems.push('be at least 8 characters long');
  if (!/[A-Z]/.test(password)) problems.push('contain an upper-case letter');
  if (!/[a-z]/.test(password)) problems.push('contain a lower-case letter');
  if (!/[0-9]/.test(password)) problems.push('contain a digit');
  return problems;
}
