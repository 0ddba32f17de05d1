import type { RateLimiter } from '../../src/auth/rate-limit.js';
import { defaultRateLimits, type RateLimits } from '../../src/config.js';
import type { AppError } from '../../src/errors.js';

/** Login limits small enough to reach in a few calls: 3 per account and address, 5 per address. */
export const SMALL_LOGIN_LIMITS: RateLimits = {
  ...defaultRateLimits(),
  login: { perAccountAndIp: { max: 3, windowSeconds: 60 }, perIp: { max: 5, windowSeconds: 600 } },
};

/** The arguments of a login as `username`: the limiter counts the username, never the password. */
export const loginAs = (username: string) => ({ input: { username, password: 'never counted' } });

/** The error `consume` threw for a login, or undefined when it let the call through. */
export async function loginOutcome(limiter: RateLimiter, ip: string, args: Record<string, unknown>): Promise<AppError | undefined> {
  try {
    await limiter.consume('login', ip, args);
    return undefined;
  } catch (error) {
    return error as AppError;
  }
}
