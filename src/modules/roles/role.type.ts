import { Field, ID, ObjectType } from 'type-graphql';
import { MutationOutcome } from '../system/message.type.js';
import type { RealmRoleKind } from './role.entity.js';
import { NodeInterface } from '../node/node.type.js';

/** A role or privilege as read from the mirror. */
export interface RoleRecord {
  id: string;
  name: string;
  kind: RealmRoleKind;
  description: string | null;
}

/** A role or privilege as Keycloak's mapping APIs take it. */
export type RoleRef = Pick<RoleRecord, 'id' | 'name'>;

/**
 * A role or privilege with its composite links, as Keycloak holds it and as the mirror
 * holds it: what the directory sync compares.
 */
export interface RoleState extends RoleRecord {
  /** Sorted ids of the privileges a role is a composite of; none for a privilege. */
  privilegeIds: string[];
  /** Sorted ids of its other composites: roles a role is composed of, anything a privilege is composed of. */
  compositeIds: string[];
}

@ObjectType('Privilege', {
  implements: NodeInterface,
  description: 'A predefined, read-only realm role (priv_*) that grants one capability. ROLE_ADMIN or PRIV_USER_MANAGEMENT read them.',
})
export class PrivilegeType {
  @Field(() => ID, { description: "The privilege's Keycloak id." })
  id: string;

  @Field(() => String, { description: 'Always starts with priv_.' })
  name: string;

  @Field(() => String, { nullable: true, description: 'Free text, as set in Keycloak.' })
  description: string | null;
}

@ObjectType('Role', {
  implements: NodeInterface,
  description: 'A realm role (role_*), which grants privileges. ROLE_ADMIN or PRIV_USER_MANAGEMENT read roles; ROLE_ADMIN writes them.',
})
export class RoleType {
  @Field(() => ID, { description: "The role's Keycloak id." })
  id: string;

  @Field(() => String, { description: 'Always starts with role_.' })
  name: string;

  @Field(() => String, { nullable: true, description: 'Free text, as set in Keycloak.' })
  description: string | null;
}

@ObjectType('RolePayload', { description: 'The answer of a write to a role.' })
export class RolePayloadType extends MutationOutcome {
  @Field(() => RoleType, { description: 'The role as the write left it.' })
  role: RoleRecord;
}

/** The name without its role_ or priv_ prefix. */
export function displayName(name: string): string {
  return name.replace(/^(role|priv)_/, '');
}
