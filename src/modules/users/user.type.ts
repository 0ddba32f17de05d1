import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { MutationOutcome } from '../system/message.type.js';
import { SYNC_STATUSES, type SyncStatus, type UserAttributes } from './user.entity.js';

export const SyncStatusEnum = Object.fromEntries(SYNC_STATUSES.map((status) => [status, status])) as {
  [S in SyncStatus]: S;
};
registerEnumType(SyncStatusEnum, {
  name: 'SyncStatus',
  valuesConfig: {
    SYNCED: { description: 'Keycloak and the local record agree.' },
    PENDING: { description: 'The local record waits for the background sync to reach Keycloak.' },
    FAILED: { description: 'The last sync attempt failed; it will be retried.' },
  },
});

/** What Keycloak and the mirror both hold of a user, besides its id. */
export interface UserProfile {
  username: string;
  email: string;
  firstName: string;
  lastName: string;
  enabled: boolean;
  emailVerified: boolean;
  attributes: UserAttributes;
}

/** A user as read from the mirror: plain data, no ORM entity. */
export interface UserRecord extends UserProfile {
  id: string;
  syncStatus: SyncStatus;
  createdAt: Date;
  updatedAt: Date;
  /** Realm tenancy: the tenant realm the account lives in; null (or absent) for the gateway's own realm. Not exposed. */
  realm?: string | null;
}

@ObjectType('UserAttribute')
export class UserAttributeType {
  @Field(() => String)
  name: string;

  @Field(() => [String])
  values: string[];
}

@ObjectType('User')
export class UserType implements Omit<UserRecord, 'attributes'> {
  @Field(() => ID, { description: 'The Keycloak user id.' })
  id: string;

  @Field(() => String, { description: 'Equal to the email unless the realm allows separate usernames.' })
  username: string;

  @Field(() => String)
  email: string;

  @Field(() => String)
  firstName: string;

  @Field(() => String)
  lastName: string;

  @Field(() => Boolean)
  enabled: boolean;

  @Field(() => Boolean)
  emailVerified: boolean;

  @Field(() => SyncStatusEnum)
  syncStatus: SyncStatus;

  @Field(() => Date)
  createdAt: Date;

  @Field(() => Date)
  updatedAt: Date;
}

@ObjectType('PageInfo')
export class PageInfoType {
  @Field(() => Boolean)
  hasNextPage: boolean;

  @Field(() => String, { nullable: true })
  endCursor: string | null;
}

@ObjectType('UserEdge')
export class UserEdgeType {
  @Field(() => String)
  cursor: string;

  @Field(() => UserType)
  node: UserRecord;
}

@ObjectType('UserConnection')
export class UserConnectionType {
  @Field(() => [UserEdgeType])
  edges: UserEdgeType[];

  @Field(() => PageInfoType)
  pageInfo: PageInfoType;
}

@InputType('UserFilter')
export class UserFilterInput {
  @Field(() => String, { nullable: true, description: 'Matches email, username, first or last name (case-insensitive, partial).' })
  search?: string | null;

  @Field(() => Boolean, { nullable: true })
  enabled?: boolean | null;

  @Field(() => ID, { nullable: true })
  roleId?: string | null;

  @Field(() => ID, { nullable: true })
  groupId?: string | null;

  @Field(() => ID, { nullable: true })
  tenantId?: string | null;
}

@ObjectType('UserPayload')
export class UserPayloadType extends MutationOutcome {
  @Field(() => UserType)
  user: UserRecord;
}
