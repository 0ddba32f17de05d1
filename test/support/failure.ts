import { expect } from 'vitest';
import { AppError } from '../../src/errors.js';

/** What the call threw, checked to be the gateway's own error, for assertions on its code and message. */
export async function failure(call: Promise<unknown>): Promise<AppError> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}
