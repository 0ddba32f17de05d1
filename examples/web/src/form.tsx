import { CombinedGraphQLErrors } from '@apollo/client';
import { type InputHTMLAttributes, useId } from 'react';

/** A refused write as a form shows it: each field's problem beside the field, the rest above the form. */
export interface FormErrors {
  message?: string;
  fields: Record<string, string>;
}

export const NO_ERRORS: FormErrors = { fields: {} };

/**
 * The gateway's BAD_USER_INPUT carries `extensions.fieldErrors` (field → problem); other codes
 * (CONFLICT, FORBIDDEN, RATE_LIMITED, …) have a message meant for people.
 */
export function formErrors(error: unknown): FormErrors {
  if (!CombinedGraphQLErrors.is(error)) return { message: error instanceof Error ? error.message : String(error), fields: {} };
  const fields: Record<string, string> = {};
  const messages: string[] = [];
  for (const { message, extensions } of error.errors) {
    const fieldErrors = extensions?.fieldErrors as Record<string, string> | undefined;
    if (fieldErrors && Object.keys(fieldErrors).length > 0) Object.assign(fields, fieldErrors);
    else messages.push(message);
  }
  return { message: messages.join(' ') || undefined, fields };
}

export function FormMessage({ errors }: { errors: FormErrors }) {
  if (!errors.message && Object.keys(errors.fields).length === 0) return null;
  return (
    <p role="alert" className="error">
      {errors.message ?? 'Please correct the fields marked below.'}
    </p>
  );
}

/** A labelled input whose problem, if any, is its accessible description. */
export function Field({ label, error, ...input }: { label: string; error?: string } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  const errorId = `${id}-error`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={error ? errorId : undefined} {...input} />
      {error && (
        <span id={errorId} className="error">
          {error}
        </span>
      )}
    </div>
  );
}

/** A set of checkboxes named `name` (one value each), and its problem, if any, as its description. */
export function Picker({
  legend,
  name,
  options,
  error,
  empty,
}: {
  legend: string;
  name: string;
  options: readonly { id: string; label: string; title?: string }[] | undefined;
  error?: string;
  /** Said when there is nothing to pick. */
  empty?: string;
}) {
  const errorId = `${useId()}-error`;
  return (
    <fieldset aria-describedby={error ? errorId : undefined}>
      <legend>{legend}</legend>
      {empty && options?.length === 0 && <p>{empty}</p>}
      {options?.map((option) => (
        <label key={option.id} title={option.title}>
          <input type="checkbox" name={name} value={option.id} /> {option.label}
        </label>
      ))}
      {error && (
        <span id={errorId} className="error">
          {error}
        </span>
      )}
    </fieldset>
  );
}
