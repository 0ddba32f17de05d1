import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../errors.js';
import { inDateRange, UUID } from '../validation.js';
import { selectRows } from './loaders.js';

export const MAX_PAGE_SIZE = 200;
/** The page size when a client gives none (or null). */
export const DEFAULT_PAGE_SIZE = 50;

/** One page of a cursor connection, as the GraphQL connection types expect it. */
export interface Page<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: PageInfo;
  /** Counted only when a client asks for totalCount. */
  countTotal: () => Promise<number>;
}

/**
 * Where a page lies in its list. Whether items lie beyond the cursor the page was asked
 * from is a question of its own, asked only when a client reads that field.
 */
export interface PageInfo {
  hasNextPage: boolean | Promise<boolean>;
  hasPreviousPage: boolean | Promise<boolean>;
  startCursor: string | null;
  endCursor: string | null;
}

/**
 * Which page: forward, the `first` items after the cursor `after` (from the start without
 * one); or backward, the `last` items before the cursor `before` (up to the end without one).
 */
export type PageWindow = { first: number; after?: string | null } | { last: number; before?: string | null };

/** The paging arguments of a connection field, and whether `first` was given or is its default. */
export interface PageArguments {
  first: number;
  firstGiven: boolean;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/**
 * The window the arguments ask for. A page is read one way: `first` and `after` forward,
 * `last` and `before` backward; mixing them answers BAD_USER_INPUT. `before` alone pages
 * backward by as many items as `first`'s default.
 */
export function pageWindow({ first, firstGiven, after, last, before }: PageArguments): PageWindow {
  const backward = (last ?? null) !== null || (before ?? null) !== null;
  if (!backward) return { first, after };
  const mixed = { ...(firstGiven && { first: 'not with last or before' }), ...(after != null && { after: 'not with last or before' }) };
  if (Object.keys(mixed).length > 0) {
    throw new AppError('BAD_USER_INPUT', 'page forward (first, after) or backward (last, before), not both ways', { fieldErrors: mixed });
  }
  return { last: last ?? first, before };
}

/** A row's place in a list ordered by a timestamp, ties broken by id. */
export interface Position {
  at: Date;
  id: string;
}

function checkPageSize(size: number, name: 'first' | 'last'): void {
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) {
    throw new AppError('BAD_USER_INPUT', `${name} must be between 1 and ${MAX_PAGE_SIZE}`, {
      fieldErrors: { [name]: `must be between 1 and ${MAX_PAGE_SIZE}` },
    });
  }
}

/** A list read as plain rows, in the order of a timestamp with ties broken by id. */
export interface KeysetQuery<T> {
  /**
   * The list's name, carried in its cursors: a cursor names a place in one list's order,
   * and another list refuses it rather than reading it as a place in its own.
   */
  list: string;
  /** The selected columns and the table with its alias: `... from users u`. */
  columns: string;
  from: string;
  where: { clauses: string[]; params: unknown[] };
  /** The same condition written for counting every match, when `where` is written for finding a page's first ones. */
  countWhere?: { clauses: string[]; params: unknown[] };
  /** The timestamp and id columns that order the list, e.g. ['u.created_at', 'u.id']. */
  orderBy: [string, string];
  direction: 'asc' | 'desc';
  positionOf: (row: T) => Position;
  /** The list's total read another way than `count(*)` (a count kept by triggers); only for an unfiltered list. */
  countTotal?: () => Promise<number>;
}

/**
 * One page of the list: keyset pagination, so a page costs the same wherever it starts.
 * A backward page is read in reverse order from its cursor, then turned round. Rows are
 * fetched with `limit size + 1`: the extra row only tells that more lie beyond the page,
 * which spares a count. The total, and whether items lie on the other side of the cursor
 * the page started from, are read only when asked for.
 */
export async function keysetPage<T>(em: EntityManager, query: KeysetQuery<T>, window: PageWindow): Promise<Page<T>> {
  const forward = 'first' in window;
  const size = forward ? window.first : window.last;
  checkPageSize(size, forward ? 'first' : 'last');
  const cursorName = forward ? 'after' : 'before';
  const cursor = forward ? window.after : window.before;
  // An empty cursor is a cursor, and not one this API returned: it does not mean "from the start".
  const from = cursor != null ? decodeCursor(query.list, cursor, cursorName) : undefined;
  const [at, id] = query.orderBy;
  // The order rows are read in, and the comparison that means "further along it".
  const readDirection = forward === (query.direction === 'asc') ? 'asc' : 'desc';
  const further = readDirection === 'asc' ? '>' : '<';
  const beyond = (operator: string, position: Position) => ({
    clauses: [...query.where.clauses, `(${at}, ${id}) ${operator} (?, ?)`],
    params: [...query.where.params, position.at, position.id],
  });
  const where = from ? beyond(further, from) : query.where;
  const rows = await selectRows<T>(
    em,
    `select ${query.columns} from ${query.from} ${whereSql(where.clauses)} order by ${at} ${readDirection}, ${id} ${readDirection} limit ?`,
    [...where.params, size + 1],
  );
  const more = rows.length > size;
  const read = rows.slice(0, size);
  // Each cursor is made when asked for: a client reading `nodes`, or only `endCursor`, asks
  // for none or one of a page's hundred.
  const edges = (forward ? read : read.reverse()).map((node) => ({
    node,
    get cursor() {
      return encodeCursor(query.list, query.positionOf(node));
    },
  }));
  // Items behind the cursor (the cursor's own row included): those on the page's other side.
  let behind: Promise<boolean> | undefined;
  const behindCursor = () => {
    if (!from) return false;
    behind ??= (async () => {
      const other = beyond(further === '>' ? '<=' : '>=', from);
      return (await selectRows(em, `select 1 from ${query.from} ${whereSql(other.clauses)} limit 1`, other.params)).length > 0;
    })();
    return behind;
  };
  const pageInfo: PageInfo = {
    get startCursor() {
      return edges[0]?.cursor ?? null;
    },
    get endCursor() {
      return edges.at(-1)?.cursor ?? null;
    },
    get hasNextPage() {
      return forward ? more : behindCursor();
    },
    get hasPreviousPage() {
      return forward ? behindCursor() : more;
    },
  };
  return {
    edges,
    pageInfo,
    countTotal: async () => {
      if (query.countTotal && query.where.clauses.length === 0) return query.countTotal();
      const [total] = await selectRows<{ count: string }>(
        em,
        `select count(*) from ${query.from} ${whereSql((query.countWhere ?? query.where).clauses)}`,
        (query.countWhere ?? query.where).params,
      );
      return Number(total!.count);
    },
  };
}

/** The WHERE clause of a list query, or nothing when no filter applies. */
function whereSql(clauses: string[]): string {
  return clauses.length > 0 ? `where ${clauses.join(' and ')}` : '';
}

function encodeCursor(list: string, { at, id }: Position): string {
  return Buffer.from(JSON.stringify([list, new Date(at).toISOString(), id])).toString('base64url');
}

/**
 * The place a cursor of `list` names. Cursors of the earlier form, without their list's name,
 * are refused too: nothing in them tells which list they came from.
 */
function decodeCursor(list: string, cursor: string, name: 'after' | 'before'): Position {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parts) && parts.length === 3 && parts[0] === list && typeof parts[1] === 'string') {
      const [, at, id] = parts as [string, string, unknown];
      const date = new Date(at);
      // Checked like any id and date argument: the database would refuse either in its casts.
      if (typeof id === 'string' && UUID.test(id) && inDateRange(date)) return { at: date, id };
    }
  } catch {
    // Reported below.
  }
  throw new AppError('BAD_USER_INPUT', `${name} is not a cursor this list returned`, { fieldErrors: { [name]: 'invalid cursor' } });
}
