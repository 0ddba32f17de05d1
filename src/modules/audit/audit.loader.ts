import { singleLoader } from '../../db/loaders.js';
import type { AuditEventRecord } from './audit-event.type.js';
import type { AuditService } from './audit.service.js';

/** Per-request loaders for the journal's events, as `node(id:)` refetches them. */
export function createAuditLoaders(audit: AuditService) {
  return { auditEventById: singleLoader<AuditEventRecord>((ids) => audit.findByIds(ids)) };
}
