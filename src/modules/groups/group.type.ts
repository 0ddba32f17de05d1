import { Field, ID, ObjectType } from 'type-graphql';
import { MutationOutcome } from '../system/message.type.js';

export interface GroupRecord {
  id: string;
  name: string;
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
