import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';
import { keysetPage, type Page, type PageWindow } from '../../db/pagination.js';
import type { AuditEventFilterInput, AuditEventRecord } from './audit-event.type.js';

const AUDIT_COLUMNS = `e.id, e.at, e.actor_id as "actorId", e.action, e.target_type as "targetType", e.target_id as "targetId",
  e.tenant_id as "tenantId", e.status, e.details, e.error`;

/** The audit journal, read newest first; the journal (src/journal) is its only writer. */
export class AuditService {
  constructor(private readonly em: EntityManager) {}

  /** The events with these ids, in no particular order; unknown ids are left out. */
  findByIds(ids: readonly string[]): Promise<AuditEventRecord[]> {
    return selectRows<AuditEventRecord>(this.em, `select ${AUDIT_COLUMNS} from audit_events e where e.id in (?)`, [ids]);
  }

  async list(window: PageWindow, filter: AuditEventFilterInput = {}): Promise<Page<AuditEventRecord>> {
    return keysetPage(
      this.em,
      {
        list: 'auditEvents',
        columns: AUDIT_COLUMNS,
        from: 'audit_events e',
        where: filterCondition(filter),
        orderBy: ['e.at', 'e.id'],
        direction: 'desc',
        positionOf: (event: AuditEventRecord) => ({ at: event.at, id: event.id }),
      },
      window,
    );
  }
}

function filterCondition(filter: AuditEventFilterInput): { clauses: string[]; params: unknown[] } {
  const conditions: [string, unknown][] = [
    ['e.action = ?', filter.action],
    ['e.actor_id = ?', filter.actorId],
    ['e.target_id = ?', filter.targetId],
    ['e.tenant_id = ?', filter.tenantId],
    ['e.status = ?', filter.status],
    ['e.at >= ?', filter.since],
  ];
  const given = conditions.filter(([, value]) => value !== null && value !== undefined && value !== '');
  return { clauses: given.map(([clause]) => clause), params: given.map(([, value]) => value) };
}
