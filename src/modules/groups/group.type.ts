import { Field, ID, ObjectType } from 'type-graphql';
import { MutationOutcome } from '../system/message.type.js';
import { NodeInterface } from '../node/node.type.js';

export interface GroupRecord {
  id: string;
  name: string;
}

/** A group with its place and its role mappings, as Keycloak and the mirror hold it: what the directory sync compares. */
export interface GroupState extends GroupRecord {
  /** The group it is a subgroup of; null at the top. */
  parentId: string | null;
  /** Sorted ids of the realm roles mapped to the group. */
  roleIds: string[];
}

@ObjectType('Group', {
  implements: NodeInterface,
  description:
    'A Keycloak group: its members hold its roles and privileges. ROLE_ADMIN or PRIV_USER_MANAGEMENT read groups; ROLE_ADMIN writes them.',
})
export class GroupType {
  @Field(() => ID, { description: "The group's Keycloak id." })
  id: string;

  @Field(() => String, { description: "The group's name." })
  name: string;
}

@ObjectType('GroupPayload', { description: 'The answer of a write to a group.' })
export class GroupPayloadType extends MutationOutcome {
  @Field(() => GroupType, { description: 'The group as the write left it.' })
  group: GroupRecord;
}
