import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { decodeEventCursor, encodeEventCursor } from './outbox.js';

describe('identity event cursors', () => {
  it('name a position that reads back as itself', () => {
    for (const position of [0, 1, 42, 2 ** 40]) expect(decodeEventCursor(encodeEventCursor(position))).toBe(position);
  });

  it('are opaque strings safe in a URL', () => {
    expect(encodeEventCursor(7)).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('refuse what no events list returned: another list, a broken or negative position, garbage', () => {
    const other = Buffer.from(JSON.stringify(['AuditEvent', 3])).toString('base64url');
    const negative = Buffer.from(JSON.stringify(['IdentityEvent', -1])).toString('base64url');
    const fractional = Buffer.from(JSON.stringify(['IdentityEvent', 1.5])).toString('base64url');
    const text = Buffer.from(JSON.stringify(['IdentityEvent', '3'])).toString('base64url');
    for (const cursor of [other, negative, fractional, text, '', 'not a cursor', '%%%']) {
      let caught: unknown;
      try {
        decodeEventCursor(cursor, 'after');
      } catch (error) {
        caught = error;
      }
      expect(caught, cursor).toBeInstanceOf(AppError);
      expect((caught as AppError).code).toBe('BAD_USER_INPUT');
      expect((caught as AppError).details.fieldErrors).toEqual({ after: 'invalid cursor' });
    }
  });
});
