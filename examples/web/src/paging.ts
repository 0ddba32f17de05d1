/**
 * Page-by-page display over a connection that relayStylePagination merges: the cache holds
 * every page fetched so far under one key (the filter), and the page shows `size` edges from
 * where the reader stands: the start, after a cursor, or before one.
 */
export type Position = { after: string } | { before: string } | Record<string, never>;

export interface Window<Edge> {
  edges: Edge[];
  /** Whether more edges follow: already in the cache (`fetched`) or still at the gateway. */
  next?: { after: string; fetched: boolean };
  previous?: { before: string; fetched: boolean };
}

export function pageWindow<Edge extends { cursor: string }>(
  all: readonly Edge[],
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean },
  position: Position,
  size: number,
): Window<Edge> {
  let start = 0;
  if ('after' in position) start = all.findIndex((edge) => edge.cursor === position.after) + 1;
  else if ('before' in position) start = Math.max(0, all.findIndex((edge) => edge.cursor === position.before) - size);
  const edges = all.slice(start, start + size);
  const end = start + edges.length;
  const first = edges[0];
  const last = edges.at(-1);
  return {
    edges,
    next:
      last && (end < all.length || pageInfo.hasNextPage)
        ? { after: last.cursor, fetched: end + size <= all.length || (end < all.length && !pageInfo.hasNextPage) }
        : undefined,
    previous:
      first && (start > 0 || pageInfo.hasPreviousPage)
        ? { before: first.cursor, fetched: start >= size || (start > 0 && !pageInfo.hasPreviousPage) }
        : undefined,
  };
}
