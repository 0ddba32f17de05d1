import type { GatewayContext } from '../../context.js';
import type { RealmRoleKind } from '../roles/role.entity.js';
import { asNode, NODE_TYPES, type NodeRecord, type NodeTypeName } from './node.type.js';

type Loaders = Pick<
  GatewayContext['loaders'],
  | 'userById'
  | 'roleById'
  | 'groupById'
  | 'tenantById'
  | 'invitationById'
  | 'auditEventById'
  | 'identityEventById'
  | 'webhookEndpointById'
  | 'webhookDeliveryById'
>;

/** Roles and privileges share the mirror's roles table: one row, one kind, never both. */
async function roleOfKind(loaders: Loaders, id: string, kind: RealmRoleKind) {
  const role = await loaders.roleById.load(id);
  return role?.kind === kind ? role : null;
}

/** How each type is read by id: through the loaders its own by-id query and field resolvers use. */
const FINDERS: Record<NodeTypeName, (loaders: Loaders, id: string) => Promise<{ id: string } | null>> = {
  User: (loaders, id) => loaders.userById.load(id),
  Role: (loaders, id) => roleOfKind(loaders, id, 'ROLE'),
  Privilege: (loaders, id) => roleOfKind(loaders, id, 'PRIVILEGE'),
  Group: (loaders, id) => loaders.groupById.load(id),
  Tenant: (loaders, id) => loaders.tenantById.load(id),
  Invitation: (loaders, id) => loaders.invitationById.load(id),
  AuditEvent: (loaders, id) => loaders.auditEventById.load(id),
  IdentityEvent: (loaders, id) => loaders.identityEventById.load(id),
  WebhookEndpoint: (loaders, id) => loaders.webhookEndpointById.load(id),
  WebhookDelivery: (loaders, id) => loaders.webhookDeliveryById.load(id),
};

/**
 * Every object `id` names, in the order of NODE_TYPES, each tagged with its type; none for an
 * unknown id. All types are asked at once: one statement per table, batched with the
 * request's other loads. Which of them the caller sees is for the permission table to say
 * (src/permissions.ts, `firstVisibleNode`).
 */
export async function nodesWithId(loaders: Loaders, id: string): Promise<NodeRecord[]> {
  const found = await Promise.all(NODE_TYPES.map(async (type) => ({ type, record: await FINDERS[type](loaders, id) })));
  return found.flatMap(({ type, record }) => (record ? [asNode(type, record)] : []));
}
