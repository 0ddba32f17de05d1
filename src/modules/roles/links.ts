import { AppError } from '../../errors.js';
import { someOf } from '../../validation.js';

/*
 * The rules role, group and user writes share about links (role → privilege, group → role
 * or privilege, group → member, user → role or group): which ids an input names, and which
 * changes are real.
 */

/** Links to add and to remove, each already checked to be a real change. */
export interface LinkChanges<T extends { id: string }> {
  add: T[];
  remove: T[];
}

/**
 * The rows behind the ids an input field gives, in the order given: NOT_FOUND naming the
 * first few unknown ids, before any write.
 */
export async function requireAll<T extends { id: string }>(
  field: string,
  what: string,
  ids: readonly string[],
  load: (ids: string[]) => Promise<T[]>,
): Promise<T[]> {
  if (ids.length === 0) return [];
  const unique = [...new Set(ids)];
  const byId = new Map((await load(unique)).map((row) => [row.id, row]));
  const missing = unique.filter((id) => !byId.has(id));
  if (missing.length > 0) throw new AppError('NOT_FOUND', `${field}: no ${what} with id ${someOf(missing)}`);
  return unique.map((id) => byId.get(id)!);
}

/**
 * Only real changes: adding what is already linked or removing what is not would make an
 * undo take away a link that was there before.
 */
export function linkChanges<T extends { id: string }>(linkedIds: readonly string[], add: T[], remove: T[]): LinkChanges<T> {
  const ids = new Set(linkedIds);
  return { add: add.filter((row) => !ids.has(row.id)), remove: remove.filter((row) => ids.has(row.id)) };
}

/** Whether nothing is to be added or removed: such an update writes nothing. */
export function noLinkChanges(...changes: LinkChanges<{ id: string }>[]): boolean {
  return changes.every(({ add, remove }) => add.length === 0 && remove.length === 0);
}

export function namesOf(records: readonly { name: string }[]): string[] {
  return records.map((record) => record.name);
}
