import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { isKeycloakUnreachable } from '../journal/journal.js';
import { backoffMs } from './user-sync.js';

describe('isKeycloakUnreachable', () => {
  const withStatus = (status: number) => Object.assign(new Error('HTTP error'), { response: { status } });

  it('is true for refused or reset connections, timeouts and 5xx answers', () => {
    expect(isKeycloakUnreachable(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }))).toBe(true);
    expect(isKeycloakUnreachable(new DOMException('The operation timed out', 'TimeoutError'))).toBe(true);
    expect(isKeycloakUnreachable(withStatus(503))).toBe(true);
    expect(isKeycloakUnreachable(new Error('Keycloak refused a token to client x in realm y (HTTP 502)'))).toBe(true);
    expect(isKeycloakUnreachable(new AppError('UPSTREAM_UNAVAILABLE', 'mail failed'))).toBe(true);
  });

  it('is false for refusals (4xx) and for anything else', () => {
    for (const status of [400, 401, 403, 404, 409]) expect(isKeycloakUnreachable(withStatus(status))).toBe(false);
    expect(isKeycloakUnreachable(new AppError('CONFLICT', 'taken'))).toBe(false);
    expect(isKeycloakUnreachable(new Error('Keycloak refused a token to client x in realm y (HTTP 401, unauthorized_client)'))).toBe(false);
    expect(isKeycloakUnreachable(new TypeError('x is not a function'))).toBe(false);
  });
});

describe('backoffMs', () => {
  it('doubles from the interval per attempt, up to the cap, within ±20%', () => {
    const options = { baseBackoffSeconds: 15, maxBackoffSeconds: 3600 };
    for (const [attempts, seconds] of [
      [1, 15],
      [2, 30],
      [3, 60],
      [20, 3600],
    ] as const) {
      const wait = backoffMs(attempts, options);
      expect(wait).toBeGreaterThanOrEqual(seconds * 800);
      expect(wait).toBeLessThanOrEqual(seconds * 1200);
    }
  });
});
