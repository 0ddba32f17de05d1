import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../errors.js';
import { inDateRange, UUID } from '../validation.js';
import { selectRows } from './loaders.js';

export const MAX_PAGE_SIZE = 200;

/** One page of a cursor connection, as the GraphQL connection types expect it. */
export interface Page<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  /** Counted only when a client asks for totalCount. */
  countTotal: () => Promise<number>;
}

/** A row's place in a list ordered by a timestamp, ties broken by id. */
export interface Position {
  at: Date;
  id: string;
}

function checkPageSize(first: number): void {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE_SIZE) {
    throw new AppError('BAD_USER_INPUT', `first must be between 1 and ${MAX_PAGE_SIZE}`, {
      fieldErrors: { first: `must be between 1 and ${MAX_PAGE_SIZE}` },
    });
  }
}

/**
 * The page from rows fetched with `limit first + 1`: the extra row only tells that a next
 * page exists, which spares a count.
 */
function toPage<T>(rows: T[], first: number, positionOf: (row: T) => Position, countTotal: () => Promise<number>): Page<T> {
  const edges = rows.slice(0, first).map((node) => ({ cursor: encodeCursor(positionOf(node)), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null }, countTotal };
}

/** A list read as plain rows, in the order of a timestamp with ties broken by id. */
export interface KeysetQuery<T> {
  /** The selected columns and the table with its alias: `... from users u`. */
  columns: string;
  from: string;
  where: { clauses: string[]; params: unknown[] };
  /** The timestamp and id columns that order the list, e.g. ['u.created_at', 'u.id']. */
  orderBy: [string, string];
  direction: 'asc' | 'desc';
  positionOf: (row: T) => Position;
}

/**
 * One page after the cursor `after`: keyset pagination, so a page costs the same wherever
 * it starts; the total is counted only when asked for.
 */
export async function keysetPage<T>(em: EntityManager, query: KeysetQuery<T>, first: number, after?: string | null): Promise<Page<T>> {
  checkPageSize(first);
  const [at, id] = query.orderBy;
  const clauses = [...query.where.clauses];
  const params = [...query.where.params];
  if (after) {
    const position = decodeCursor(after);
    clauses.push(`(${at}, ${id}) ${query.direction === 'asc' ? '>' : '<'} (?, ?)`);
    params.push(position.at, position.id);
  }
  const rows = await selectRows<T>(
    em,
    `select ${query.columns} from ${query.from} ${whereSql(clauses)} order by ${at} ${query.direction}, ${id} ${query.direction} limit ?`,
    [...params, first + 1],
  );
  return toPage(rows, first, query.positionOf, async () => {
    const [total] = await selectRows<{ count: string }>(
      em,
      `select count(*) from ${query.from} ${whereSql(query.where.clauses)}`,
      query.where.params,
    );
    return Number(total!.count);
  });
}

/** The WHERE clause of a list query, or nothing when no filter applies. */
function whereSql(clauses: string[]): string {
  return clauses.length > 0 ? `where ${clauses.join(' and ')}` : '';
}

function encodeCursor({ at, id }: Position): string {
  return Buffer.from(JSON.stringify([new Date(at).toISOString(), id])).toString('base64url');
}

function decodeCursor(cursor: string): Position {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    const date = new Date(at);
    // Checked like any id and date argument: the database would refuse either in its casts.
    if (typeof id === 'string' && UUID.test(id) && inDateRange(date)) return { at: date, id };
  } catch {
    // Reported below.
  }
  throw new AppError('BAD_USER_INPUT', 'after is not a cursor this API returned', { fieldErrors: { after: 'invalid cursor' } });
}
