import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.js';
import { pageWindow } from './pagination.js';

const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError) return { code: error.code, fieldErrors: error.details?.fieldErrors };
    throw error;
  }
  throw new Error('expected BAD_USER_INPUT');
};

describe('pageWindow', () => {
  it('pages forward by default, and forward from first and after', () => {
    expect(pageWindow({ first: 50, firstGiven: false })).toEqual({ first: 50, after: undefined });
    expect(pageWindow({ first: 10, firstGiven: true, after: 'c' })).toEqual({ first: 10, after: 'c' });
  });

  it('pages backward from last and before; before alone takes as many items as first’s default', () => {
    expect(pageWindow({ first: 50, firstGiven: false, last: 10, before: 'c' })).toEqual({ last: 10, before: 'c' });
    expect(pageWindow({ first: 50, firstGiven: false, last: 10 })).toEqual({ last: 10, before: undefined });
    expect(pageWindow({ first: 50, firstGiven: false, before: 'c' })).toEqual({ last: 50, before: 'c' });
  });

  it('answers BAD_USER_INPUT naming the forward arguments when a page is asked both ways', () => {
    expect(refusal(() => pageWindow({ first: 10, firstGiven: true, last: 10 }))).toEqual({
      code: 'BAD_USER_INPUT',
      fieldErrors: { first: 'not with last or before' },
    });
    expect(refusal(() => pageWindow({ first: 50, firstGiven: false, after: 'a', before: 'b' }))).toEqual({
      code: 'BAD_USER_INPUT',
      fieldErrors: { after: 'not with last or before' },
    });
    expect(refusal(() => pageWindow({ first: 10, firstGiven: true, after: 'a', last: 5 }))).toEqual({
      code: 'BAD_USER_INPUT',
      fieldErrors: { first: 'not with last or before', after: 'not with last or before' },
    });
  });
});
