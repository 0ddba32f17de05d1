import type { SessionsEnd } from '../sessions/sessions-end.js';
import type { UserRecord } from './user.type.js';

/** What each request checks about its caller (src/admission.ts): their record and effective roles. */
export interface CallerRecord {
  user: UserRecord;
  /** Names of the realm roles and privileges the mirror says the user holds, however reached. */
  effectiveRoles: readonly string[];
  /** The last end of all the user's sessions: the access tokens it refuses (src/modules/sessions/sessions-end.ts). */
  sessionsEnd?: SessionsEnd | null;
}

const MAX_ENTRIES = 10_000;
/** The payload announcing a change that may reach any user (src/db/migrations/Migration20261201230000.ts). */
const EVERYONE = '*';
/** A bound on staleness should announcements stop without the connection saying so. */
const TIME_TO_LIVE_MS = 30_000;

/**
 * Callers' mirror records and effective roles kept in this process, so that the check
 * every request makes of its caller, and `me`, which frontends call on every page, cost
 * no PostgreSQL round trip: that round trip was most of `me`'s cost (`npm run bench`,
 * workload 1).
 *
 * Kept fresh by PostgreSQL itself: every change of a `users` row or of a user's role and
 * group links, by whichever process or tool, is announced on `users_changed` once
 * committed (triggers), and this process drops the entry when the announcement arrives
 * (src/db/channel-listener.ts); a change to groups, roles or their links, which may reach
 * anyone, is announced as `*` and drops every entry. So:
 * - the cache serves only while it listens; losing the connection empties it;
 * - a record read while any announcement arrived is not kept, as it may predate it;
 * - this process's own mutations empty it when they end (src/schema.ts), so a caller
 *   sees their write at once rather than when its announcement arrives.
 * Another process's write reaches here as fast as PostgreSQL delivers its announcement.
 */
export class UserRecordCache {
  private readonly entries = new Map<string, { record: CallerRecord; expiresAt: number }>();
  /** Counts announcements and resets: a read that saw it change keeps nothing. */
  private changes = 0;
  private listening = false;

  /** `onLookup` is told of every lookup, found or not (the metrics' hit rate). */
  constructor(private readonly onLookup: (hit: boolean) => void = () => {}) {}

  /** The record of `id`, from the cache or from `read`. */
  async get(id: string, read: (id: string) => Promise<CallerRecord | null>): Promise<CallerRecord | null> {
    const entry = this.entries.get(id);
    const hit = entry !== undefined && entry.expiresAt > Date.now();
    this.onLookup(hit);
    if (hit) return entry.record;
    const changesBefore = this.changes;
    const record = await read(id);
    if (record && this.listening && changesBefore === this.changes) this.keep(record);
    return record;
  }

  forget(id: string): void {
    this.changes++;
    this.entries.delete(id);
  }

  /** Called by the listener with an announcement's payload: a user's id, or `*` for everyone. */
  announced(payload: string): void {
    if (payload === EVERYONE) this.forgetAll();
    else this.forget(payload);
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

  private keep(record: CallerRecord): void {
    // Oldest first in a Map: past the bound, the entry kept longest ago goes.
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(record.user.id, { record, expiresAt: Date.now() + TIME_TO_LIVE_MS });
  }
}
