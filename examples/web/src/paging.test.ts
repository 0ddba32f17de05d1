import { describe, expect, it } from 'vitest';
import { pageWindow } from './paging';

const edges = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ cursor: `c${from + i}` }));
const cursors = (window: { edges: { cursor: string }[] }) => window.edges.map((edge) => edge.cursor);
const more = { hasNextPage: true, hasPreviousPage: false };
const end = { hasNextPage: false, hasPreviousPage: false };

describe('pageWindow over the edges relayStylePagination merged', () => {
  it('shows the first page, and a next page still to fetch when the gateway has more', () => {
    const window = pageWindow(edges(0, 3), more, {}, 3);
    expect(cursors(window)).toEqual(['c0', 'c1', 'c2']);
    expect(window.next).toEqual({ after: 'c2', fetched: false });
    expect(window.previous).toBeUndefined();
  });

  it('pages forward over fetched edges without fetching, and says when the last page is in the cache', () => {
    expect(pageWindow(edges(0, 7), end, { after: 'c2' }, 3)).toMatchObject({
      edges: edges(3, 6),
      next: { after: 'c5', fetched: true },
      previous: { before: 'c3', fetched: true },
    });
    const last = pageWindow(edges(0, 7), end, { after: 'c5' }, 3);
    expect(cursors(last)).toEqual(['c6']);
    expect(last.next).toBeUndefined();
  });

  it('pages back to the edges before a cursor, fetching when the cache starts after the start of the list', () => {
    expect(cursors(pageWindow(edges(0, 7), end, { before: 'c3' }, 3))).toEqual(['c0', 'c1', 'c2']);
    const window = pageWindow(edges(4, 10), { hasNextPage: false, hasPreviousPage: true }, { before: 'c7' }, 3);
    expect(cursors(window)).toEqual(['c4', 'c5', 'c6']);
    expect(window.previous).toEqual({ before: 'c4', fetched: false });
  });

  it('shows nothing to page to for an empty list', () => {
    expect(pageWindow([], end, {}, 3)).toEqual({ edges: [], next: undefined, previous: undefined });
  });
});
