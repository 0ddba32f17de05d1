import type { UserRecord } from './user.type.js';

const MAX_ENTRIES = 10_000;
/** A bound on staleness should announcements stop without the connection saying so. */
const TIME_TO_LIVE_MS = 30_000;

/**
 * Callers' mirror records kept in this process, so that `me`, which frontends call on
 * every page, is answered without a PostgreSQL round trip: that round trip was most of
 * its cost (`npm run bench`, workload 1).
 *
 * Kept fresh by PostgreSQL itself: every change of a `users` row, by whichever process or
 * tool, is announced on `users_changed` once committed (a trigger), and this process drops
 * the entry when the announcement arrives (src/db/channel-listener.ts). So:
 * - the cache serves only while it listens; losing the connection empties it;
 * - a record read while any announcement arrived is not kept, as it may predate it;
 * - this process's own mutations empty it when they end (src/schema.ts), so a caller
 *   sees their write at once rather than when its announcement arrives.
 * Another process's write reaches here as fast as PostgreSQL delivers its announcement.
 */
export class UserRecordCache {
  private readonly entries = new Map<string, { record: UserRecord; expiresAt: number }>();
  /** Counts announcements and resets: a read that saw it change keeps nothing. */
  private changes = 0;
  private listening = false;

  /** The record of `id`, from the cache or from `read`. */
  async get(id: string, read: (id: string) => Promise<UserRecord | null>): Promise<UserRecord | null> {
    const entry = this.entries.get(id);
    if (entry && entry.expiresAt > Date.now()) return entry.record;
    const changesBefore = this.changes;
    const record = await read(id);
    if (record && this.listening && changesBefore === this.changes) this.keep(record);
    return record;
  }

  forget(id: string): void {
    this.changes++;
    this.entries.delete(id);
  }

  forgetAll(): void {
    this.changes++;
    this.entries.clear();
  }

  /** Called by the listener: announcements arrive (true), or may be missed (false). */
  setListening(listening: boolean): void {
    this.listening = listening;
    this.forgetAll();
  }

  private keep(record: UserRecord): void {
    // Oldest first in a Map: past the bound, the entry kept longest ago goes.
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(record.id, { record, expiresAt: Date.now() + TIME_TO_LIVE_MS });
  }
}
