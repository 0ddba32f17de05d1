import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';
import type { AuditStatus } from '../../journal/audit-event.entity.js';

/** A journal entry left PENDING: a write interrupted between Keycloak and its local commit. */
export interface StaleEvent {
  id: string;
  action: string;
  targetType: string;
  targetId: string | null;
  details: Record<string, unknown> | null;
}

/** What the reconciler reads and settles of the journal (`audit_events`). */
export class AuditQueries {
  constructor(private readonly em: EntityManager) {}

  /**
   * Targets (ids and emails, lower-cased) of the writes still PENDING since `pendingSince`,
   * and of any entry recorded or settled since `since`.
   */
  async touchedTargets(pendingSince: Date, since: Date): Promise<Set<string>> {
    const rows = await selectRows<{ targetId: string | null; email: string | null }>(
      this.em,
      `select target_id as "targetId", details->>'email' as email from audit_events
        where (status = 'PENDING' and updated_at >= ?) or updated_at >= ?`,
      [pendingSince, since],
    );
    return new Set(rows.flatMap((row) => [row.targetId, row.email?.toLowerCase()]).filter((value): value is string => Boolean(value)));
  }

  /** The oldest entries still PENDING that were last touched before `before`. */
  stale(before: Date, limit: number): Promise<StaleEvent[]> {
    return selectRows<StaleEvent>(
      this.em,
      `select id, action, target_type as "targetType", target_id as "targetId", details from audit_events
        where status = 'PENDING' and updated_at < ? order by at limit ?`,
      [before, limit],
    );
  }

  /** Settles a PENDING entry (one settled meanwhile stays as it is). */
  async settle(id: string, status: AuditStatus, error: string, targetId: string | null): Promise<void> {
    await this.em.execute(
      `update audit_events set status = ?, error = ?, target_id = coalesce(?, target_id), updated_at = ? where id = ? and status = 'PENDING'`,
      [status, error, targetId, new Date(), id],
    );
  }
}
