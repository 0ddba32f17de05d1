import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import { UUID } from '../validation.js';

/**
 * Plain rows from one SQL statement, for read paths: hydrating managed entities costs
 * several times more CPU than the query, and reads never write back.
 */
export function selectRows<T>(em: EntityManager, sql: string, params: readonly unknown[]): Promise<T[]> {
  return em.getConnection().execute<T[]>(sql, [...params]);
}

/**
 * Statements through the entity manager, for a feature's queries: unlike selectRows, inside
 * a transaction (the entity manager the journal's commit hands over) a read sees the
 * transaction's own writes.
 */
export function statementsOn(em: EntityManager) {
  return {
    rows: <T>(sql: string, params: readonly unknown[] = []) => em.execute(sql, [...params]) as Promise<T[]>,
    run: async (sql: string, params: readonly unknown[] = []): Promise<void> => {
      await em.execute(sql, [...params]);
    },
  };
}

/**
 * Every key of the loaders below is a UUID column. A malformed id names nothing: it is
 * answered as absent without a query, rather than failing the database's uuid cast.
 */
async function loadValid<R>(keys: readonly string[], load: (keys: readonly string[]) => Promise<R[]>): Promise<R[]> {
  const valid = keys.filter((key) => UUID.test(key));
  return valid.length > 0 ? load(valid) : [];
}

/**
 * One statement per batch of keys; each key gets the rows whose `key` column matches. The rows
 * keep their `key` column: copying each row without it was 2% of the CPU of a page of users
 * (`npm run bench`, workload 2), and no field reads it.
 */
export function groupedLoader<T>(load: (keys: readonly string[]) => Promise<(T & { key: string })[]>) {
  return new DataLoader<string, T[]>(async (keys) => {
    const byKey = new Map<string, T[]>(keys.map((key) => [key, []]));
    for (const row of await loadValid(keys, load)) byKey.get(row.key)?.push(row);
    return keys.map((key) => byKey.get(key)!);
  });
}

/** One statement per batch of keys; each key gets its row or null. */
export function singleLoader<T extends { id: string }>(load: (keys: readonly string[]) => Promise<T[]>) {
  return new DataLoader<string, T | null>(async (keys) => {
    const byId = new Map((await loadValid(keys, load)).map((row) => [row.id, row]));
    return keys.map((key) => byId.get(key) ?? null);
  });
}

/** One statement per batch of keys; each key gets its count (0 when absent). */
export function countLoader(load: (keys: readonly string[]) => Promise<{ key: string; count: string | number }[]>) {
  return new DataLoader<string, number>(async (keys) => {
    const counts = new Map((await loadValid(keys, load)).map(({ key, count }) => [key, Number(count)]));
    return keys.map((key) => counts.get(key) ?? 0);
  });
}
