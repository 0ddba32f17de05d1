import { Field, ID, InterfaceType } from 'type-graphql';

/**
 * The types `node(id:)` refetches, in the order it looks an id up. Every id the gateway hands
 * out is a UUID (Keycloak's for users, roles, privileges and groups; the gateway's own for
 * tenants, invitations, audit and identity events), so the type cannot be read from the id: each type
 * is looked up, and when one id names objects of several types (a console operator can import
 * a user with any id), the answer is the first in this order that the caller may see.
 */
export const NODE_TYPES = [
  'User',
  'Role',
  'Privilege',
  'Group',
  'Tenant',
  'Invitation',
  'AuditEvent',
  'IdentityEvent',
  'WebhookEndpoint',
  'WebhookDelivery',
] as const;
export type NodeTypeName = (typeof NODE_TYPES)[number];

const NODE_TYPE = Symbol('Node type');

/** A record `node(id:)` found, tagged with its GraphQL type: what the Node interface resolves. */
export type NodeRecord<R extends { id: string } = { id: string }> = R & { readonly [NODE_TYPE]: NodeTypeName };

/** A copy of `record` tagged as `type`; the record itself may be shared with other fields through a loader. */
export function asNode<R extends { id: string }>(type: NodeTypeName, record: R): NodeRecord<R> {
  return { ...record, [NODE_TYPE]: type };
}

export function nodeTypeOf(node: NodeRecord): NodeTypeName {
  return node[NODE_TYPE];
}

@InterfaceType('Node', {
  description: 'Any object with a globally unique id (Relay Global Object Identification).',
  resolveType: (node: NodeRecord) => nodeTypeOf(node),
  // Every implementation is reachable from Query anyway; registered up front, they would print before Query in schema.graphql.
  autoRegisterImplementations: false,
})
export abstract class NodeInterface {
  @Field(() => ID, { description: "The object's id: the same in every field that gives it, and what node(id:) takes." })
  id: string;
}
