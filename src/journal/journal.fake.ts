import type { EntityManager } from '@mikro-orm/postgresql';
import { fromKeycloakError } from '../keycloak/keycloak-errors.js';
import { isKeycloakUnreachable, UndoLog, type Journal, type JournalEntry, type Write } from './journal.js';

/** An entry the fake journal recorded, with the status the real journal would give it. */
export interface RecordedEntry extends JournalEntry {
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED' | 'COMPENSATED';
}

/**
 * The journal's write path without PostgreSQL, for unit tests: the Keycloak side, then the
 * local side, each failure undoing the Keycloak steps newest first, as Journal.write does; a
 * Keycloak failure answers as Keycloak's error would, and Keycloak unreachable takes the
 * write's `whenUnreachable` path. `failLocal` makes the local side fail. The local side gets
 * no entity manager: the in-memory queries it is paired with ignore it.
 */
export class FakeJournal implements Pick<Journal, 'write'> {
  readonly entries: RecordedEntry[] = [];
  failLocal = false;

  async write<K, R>(write: Write<K, R>): Promise<R> {
    const entry: RecordedEntry = { ...write.entry, status: 'PENDING' };
    this.entries.push(entry);
    const undo = new UndoLog();
    let result: K;
    try {
      result = await write.keycloak(undo);
    } catch (error) {
      const wasUndone = await undone(undo);
      if (wasUndone && write.whenUnreachable && isKeycloakUnreachable(error)) {
        const kept = await write.whenUnreachable(NO_ENTITY_MANAGER);
        entry.status = 'SUCCEEDED';
        entry.targetId = kept.targetId ?? entry.targetId;
        return kept.result;
      }
      entry.status = wasUndone ? 'FAILED' : 'PENDING';
      throw fromKeycloakError(error);
    }
    if (write.targetIdOf) entry.targetId = write.targetIdOf(result);
    try {
      if (this.failLocal) throw new Error('the local commit failed');
      const local = await write.local(NO_ENTITY_MANAGER, result);
      entry.status = 'SUCCEEDED';
      return local;
    } catch (error) {
      entry.status = undo.isEmpty ? 'FAILED' : (await undone(undo)) ? 'COMPENSATED' : 'PENDING';
      throw error;
    }
  }
}

const NO_ENTITY_MANAGER = new Proxy({} as EntityManager, {
  get(_target, property) {
    throw new Error(`the fake journal has no entity manager (asked for ${String(property)})`);
  },
});

async function undone(undo: UndoLog): Promise<boolean> {
  try {
    await undo.undoAll();
    return true;
  } catch {
    return false;
  }
}
