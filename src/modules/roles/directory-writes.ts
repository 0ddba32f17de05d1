import type { EntityClass, FilterQuery, RequiredEntityData } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../../errors.js';
import type { UndoLog } from '../../journal/journal.js';
import { type InputCheck, someOf } from '../../validation.js';

/*
 * What the role and group writes share: looking up the ids an input names, and changing
 * links (role → privilege, group → role or privilege, group → member) in Keycloak and in
 * the mirror.
 */

/** Links to add and to remove, each already checked to be a real change. */
export interface LinkChanges<T extends { id: string }> {
  add: T[];
  remove: T[];
}

/** Checks a pair of id lists that add and remove links; an id in both would be ambiguous. */
export function checkIdChanges(
  check: InputCheck,
  what: string,
  [addField, add]: [string, readonly string[] | null | undefined],
  [removeField, remove]: [string, readonly string[] | null | undefined],
): InputCheck {
  check.ids(addField, add, what).ids(removeField, remove, what);
  const both = (add ?? []).filter((id) => remove?.includes(id));
  if (both.length > 0) check.fail(removeField, `must not repeat an id of ${addField}: ${someOf(both)}`);
  return check;
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
export function linkChanges<T extends { id: string }>(linked: readonly { id: string }[], add: T[], remove: T[]): LinkChanges<T> {
  const ids = new Set(linked.map((row) => row.id));
  return { add: add.filter((row) => !ids.has(row.id)), remove: remove.filter((row) => ids.has(row.id)) };
}

/**
 * Applies link changes in Keycloak, additions first, registering the reverse of each call
 * as soon as it succeeded. `oneByOne` for Keycloak APIs that take one item per call.
 */
export async function applyLinkChanges<T extends { id: string }>(
  undo: UndoLog,
  what: string,
  changes: LinkChanges<T>,
  link: (items: T[]) => Promise<unknown>,
  unlink: (items: T[]) => Promise<unknown>,
  { oneByOne = false } = {},
): Promise<void> {
  const calls = (items: T[]) => (items.length === 0 ? [] : oneByOne ? items.map((item) => [item]) : [items]);
  for (const items of calls(changes.add)) {
    await link(items);
    undo.push(`unlink ${what}`, () => unlink(items));
  }
  for (const items of calls(changes.remove)) {
    await unlink(items);
    undo.push(`link ${what} again`, () => link(items));
  }
}

/**
 * The same changes in a mirror link table whose rows are (`owner`, `target`). A link
 * already there is fine: the directory sync (src/jobs/directory-sync.ts) may have mirrored
 * it from Keycloak between the Keycloak step and this commit.
 */
export async function mirrorLinkChanges<E extends object>(
  em: EntityManager,
  entity: EntityClass<E>,
  [owner, ownerId]: [keyof E & string, string],
  target: keyof E & string,
  { add, remove }: LinkChanges<{ id: string }>,
): Promise<void> {
  if (add.length > 0) {
    await em
      .createQueryBuilder(entity)
      .insert(add.map(({ id }) => ({ [owner]: ownerId, [target]: id }) as RequiredEntityData<E>))
      .onConflict()
      .ignore()
      .execute();
  }
  if (remove.length > 0) {
    await em.nativeDelete(entity, { [owner]: ownerId, [target]: { $in: remove.map(({ id }) => id) } } as FilterQuery<NoInfer<E>>);
  }
}

/**
 * The undo of a deletion: Keycloak cannot bring an object back under its old id, so
 * `recreate` makes it again (name, links, members) and the mirror row, still there since
 * the local delete failed, moves to the new id (its links follow: foreign keys cascade on update).
 */
export function undoDeletion(
  undo: UndoLog,
  what: string,
  em: EntityManager,
  entity: EntityClass<{ id: string }>,
  id: string,
  recreate: () => Promise<string>,
): void {
  undo.push(`re-create ${what}`, async () => {
    const newId = await recreate();
    await em.nativeUpdate(entity, { id }, { id: newId });
  });
}

/** A role or privilege as Keycloak's mapping APIs take it. */
export function toMapping({ id, name }: { id: string; name: string }): { id: string; name: string } {
  return { id, name };
}

export function namesOf(records: readonly { name: string }[]): string[] {
  return records.map((record) => record.name);
}
