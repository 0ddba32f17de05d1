import { Field, ID, ObjectType } from 'type-graphql';
import { MutationOutcome } from '../system/message.type.js';

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

@ObjectType('Group')
export class GroupType {
  @Field(() => ID)
  id: string;

  @Field(() => String)
  name: string;
}

@ObjectType('GroupPayload')
export class GroupPayloadType extends MutationOutcome {
  @Field(() => GroupType)
  group: GroupRecord;
}
