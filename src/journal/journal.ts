import { randomUUID } from 'node:crypto';
import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError } from '../errors.js';
import { type EventOrigin, setEventOrigin } from '../events/outbox.js';
import { fromKeycloakError, isKeycloakNotFound } from '../keycloak/keycloak-errors.js';
import type { Logger } from '../logger.js';
import { AuditEventEntity, type AuditStatus } from './audit-event.entity.js';

/**
 * Undo actions for the Keycloak steps of one write, run newest first when a later step
 * or the local commit fails: no half-created user is left in Keycloak.
 */
export class UndoLog {
  private readonly undos: { what: string; undo: () => Promise<unknown> }[] = [];

  /** Records how to undo a step that just succeeded. */
  push(what: string, undo: () => Promise<unknown>): void {
    this.undos.push({ what, undo });
  }

  get isEmpty(): boolean {
    return this.undos.length === 0;
  }

  /** Runs every undo; throws naming the first that failed, after trying them all. */
  async undoAll(): Promise<void> {
    const failures: string[] = [];
    for (const { what, undo } of this.undos.reverse()) {
      try {
        await undo();
      } catch {
        failures.push(what);
      }
    }
    this.undos.length = 0;
    if (failures.length > 0) throw new Error(`could not undo: ${failures.join(', ')}`);
  }
}

/**
 * A Keycloak step of a write that takes something away from a user (a password, their
 * account being enabled, a role, a group, the account itself): ends every session of theirs,
 * offline ones included, so their refresh tokens stop working at once. Their access tokens
 * are refused by the gateway's own per-request check. Nothing to undo: should the write be
 * undone after this step, the user only signs in again. A user Keycloak no longer has has
 * no sessions.
 */
export async function endSessions(keycloak: KeycloakAdminClient, userId: string): Promise<void> {
  try {
    await keycloak.users.logout({ id: userId });
    // Logout leaves offline sessions to Keycloak's not-before rule, which spares a token
    // issued within the same second: they are revoked client by client.
    for (const grant of await keycloak.users.listConsents({ id: userId })) {
      if (grant.clientId) await keycloak.users.revokeConsent({ id: userId, clientId: grant.clientId });
    }
  } catch (error) {
    if (!isKeycloakNotFound(error)) throw error;
  }
}

export interface JournalEntry {
  /** For example USER_CREATE, ROLE_DELETE. */
  action: string;
  targetType: string;
  targetId?: string | null;
  actorId: string | null;
  tenantId?: string | null;
  /** Non-secret details worth keeping: never passwords or tokens. */
  details?: Record<string, unknown>;
}

export interface Write<K, R> {
  entry: JournalEntry;
  /** The Keycloak side. Register an undo for each step that changes something. */
  keycloak: (undo: UndoLog) => Promise<K>;
  /** The local side, inside the transaction that also settles the audit event. */
  local: (em: EntityManager, keycloakResult: K) => Promise<R>;
  /** The target's id once known (for example a created user's Keycloak id). */
  targetIdOf?: (keycloakResult: K) => string;
  /**
   * The local write to make instead when Keycloak is unreachable (refused or dropped
   * connection, timeout, 5xx; never a 4xx refusal) and nothing was left in Keycloak: the
   * work is kept locally for a background job, and the event SUCCEEDED as `deferred`.
   */
  whenUnreachable?: (em: EntityManager) => Promise<{ result: R; targetId?: string }>;
}

const TRANSPORT_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EPIPE']);

/**
 * Whether a Keycloak call failed because Keycloak could not be reached or failed itself
 * (connection refused or reset, timeout, 5xx), rather than refused the request (4xx).
 */
export function isKeycloakUnreachable(error: unknown): boolean {
  if (error instanceof AppError) return error.code === 'UPSTREAM_UNAVAILABLE';
  const status = (error as { response?: { status?: number } })?.response?.status;
  if (typeof status === 'number') return status >= 500;
  for (let cause: unknown = error, depth = 0; cause && depth < 5; cause = (cause as { cause?: unknown }).cause, depth++) {
    const { name, message, code } = cause as { name?: string; message?: string; code?: string };
    if (name === 'TimeoutError' || name === 'AbortError') return true;
    if (name === 'TypeError' && message === 'fetch failed') return true;
    if (code && (TRANSPORT_ERROR_CODES.has(code) || code.startsWith('UND_ERR'))) return true;
    // The token endpoint's own failure (src/keycloak/admin-client.ts): "... (HTTP 503 ...".
    if (message && /\(HTTP 5\d\d\b/.test(message)) return true;
  }
  return false;
}

/**
 * The one write path: every mutation goes through `write`. The intent is journaled
 * (PENDING) before Keycloak is called; Keycloak is written first; then one local
 * transaction updates the mirror and marks the event SUCCEEDED.
 * - Keycloak fails: its completed steps are undone, nothing local changes, FAILED.
 * - The local transaction fails: the Keycloak steps are undone, COMPENSATED.
 * - Undoing fails too: the event stays PENDING for the reconciler to finish.
 *
 * The local transaction names its origin and the entry's actor for the identity events the
 * mirror's triggers write in it (src/events/outbox.ts): GATEWAY for requests, SYNC for the
 * sync job's journal.
 */
export class Journal {
  constructor(
    private readonly em: EntityManager,
    private readonly log: Logger,
    private readonly origin: EventOrigin = 'GATEWAY',
  ) {}

  async write<K, R>(write: Write<K, R>): Promise<R> {
    const eventId = await this.record(write.entry);
    const undo = new UndoLog();

    let keycloakResult: K;
    try {
      keycloakResult = await write.keycloak(undo);
    } catch (error) {
      const failure = fromKeycloakError(error);
      const undone = await this.tryUndo(undo, eventId);
      if (undone && write.whenUnreachable && isKeycloakUnreachable(error)) {
        return this.defer(write.entry, eventId, write.whenUnreachable, failure);
      }
      await this.settle(eventId, undone ? 'FAILED' : 'PENDING', { error: failure.message });
      throw failure;
    }

    const targetId = write.targetIdOf?.(keycloakResult);
    try {
      return await this.em.fork().transactional(async (em) => {
        await setEventOrigin(em, this.origin, write.entry.actorId);
        const result = await write.local(em, keycloakResult);
        await em.nativeUpdate(
          AuditEventEntity,
          { id: eventId },
          { status: 'SUCCEEDED', ...(targetId && { targetId }), updatedAt: new Date() },
        );
        return result;
      });
    } catch (error) {
      // A refusal (an AppError) is an outcome, not a fault: only faults are logged as errors.
      if (!(error instanceof AppError)) {
        this.log.error({ err: error, eventId, action: write.entry.action }, 'local commit failed after Keycloak succeeded');
      }
      if (undo.isEmpty) {
        await this.settle(eventId, 'FAILED', { targetId, error: error instanceof AppError ? error.message : 'the local write failed' });
      } else {
        const undone = await this.tryUndo(undo, eventId);
        await this.settle(eventId, undone ? 'COMPENSATED' : 'PENDING', {
          targetId,
          error: undone ? 'the local write failed; the Keycloak change was undone' : 'the local write failed; undo pending',
        });
      }
      if (error instanceof AppError) throw error;
      throw new AppError('INTERNAL_SERVER_ERROR', 'The change could not be saved; nothing was changed.');
    }
  }

  /** Records an outcome that needs no Keycloak call (for example a local-only write). */
  async writeLocal<R>(entry: JournalEntry, local: (em: EntityManager) => Promise<R>): Promise<R> {
    return this.write({ entry, keycloak: async () => undefined, local: (em) => local(em) });
  }

  /** Keycloak is away and holds nothing of this write: keep it locally for a background job. */
  private async defer<R>(
    entry: JournalEntry,
    eventId: string,
    whenUnreachable: (em: EntityManager) => Promise<{ result: R; targetId?: string }>,
    failure: AppError,
  ): Promise<R> {
    try {
      return await this.em.fork().transactional(async (em) => {
        await setEventOrigin(em, this.origin, entry.actorId);
        const { result, targetId } = await whenUnreachable(em);
        await em.execute(
          `update audit_events set status = 'SUCCEEDED', target_id = coalesce(?, target_id), error = ?,
             details = coalesce(details, '{}'::jsonb) || '{"deferred": true}'::jsonb, updated_at = ? where id = ?`,
          [targetId ?? null, 'Keycloak was unreachable: kept locally for the sync job', new Date(), eventId],
        );
        return result;
      });
    } catch (error) {
      if (error instanceof AppError) {
        await this.settle(eventId, 'FAILED', { error: error.message });
        throw error;
      }
      this.log.error({ err: error, eventId }, 'keeping the write locally failed while Keycloak was unreachable');
      await this.settle(eventId, 'FAILED', { error: failure.message });
      throw failure;
    }
  }

  private async record(entry: JournalEntry): Promise<string> {
    const id = randomUUID();
    const now = new Date();
    await this.em.insert(AuditEventEntity, {
      id,
      at: now,
      updatedAt: now,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId ?? null,
      actorId: entry.actorId,
      tenantId: entry.tenantId ?? null,
      details: entry.details ?? null,
      status: 'PENDING',
    });
    return id;
  }

  private async tryUndo(undo: UndoLog, eventId: string): Promise<boolean> {
    try {
      await undo.undoAll();
      return true;
    } catch (error) {
      this.log.error({ err: error, eventId }, 'undoing Keycloak steps failed; the reconciler will retry');
      return false;
    }
  }

  private async settle(eventId: string, status: AuditStatus, change: { targetId?: string; error?: string }) {
    await this.em.nativeUpdate(
      AuditEventEntity,
      { id: eventId },
      { status, error: change.error ?? null, ...(change.targetId && { targetId: change.targetId }), updatedAt: new Date() },
    );
  }
}
