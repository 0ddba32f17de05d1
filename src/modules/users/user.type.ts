import type { GraphQLResolveInfo } from 'graphql';
import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DEFAULT_PAGE_SIZE, type PageWindow, pageWindow } from '../../db/pagination.js';
import { argumentGiven } from '../../validation.js';
import { MutationOutcome } from '../system/message.type.js';
import { SYNC_STATUSES, type SyncStatus, type UserAttributes } from './user.entity.js';
import { NodeInterface } from '../node/node.type.js';

export const SyncStatusEnum = Object.fromEntries(SYNC_STATUSES.map((status) => [status, status])) as {
  [S in SyncStatus]: S;
};
registerEnumType(SyncStatusEnum, {
  name: 'SyncStatus',
  description: "Whether a user's local record and Keycloak agree.",
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

/**
 * What an update writes to Keycloak: the address always (it is also the username); each other
 * field only when given, Keycloak's current value otherwise, so that an update never writes
 * back what the mirror last saw over a change made in Keycloak's console since.
 */
export type ProfileChanges = Pick<UserProfile, 'username' | 'email'> &
  Partial<Pick<UserProfile, 'firstName' | 'lastName' | 'enabled' | 'emailVerified'>>;

/** A user as read from the mirror: plain data, no ORM entity. */
export interface UserRecord extends UserProfile {
  id: string;
  syncStatus: SyncStatus;
  createdAt: Date;
  updatedAt: Date;
  /** Realm tenancy: the tenant realm the account lives in; null (or absent) for the gateway's own realm. Not exposed. */
  realm?: string | null;
}

@ObjectType('UserAttribute', { description: 'One Keycloak user attribute and its values.' })
export class UserAttributeType {
  @Field(() => String, { description: "The attribute's name, for example entity_code." })
  name: string;

  @Field(() => [String], { description: "The attribute's values, in Keycloak's order." })
  values: string[];
}

@ObjectType('User', {
  implements: NodeInterface,
  description:
    'A user of the realm. Whoever may see a user reads its id, username, email and names; the rest only the user themself, ROLE_ADMIN or PRIV_USER_MANAGEMENT (FORBIDDEN for anyone else).',
})
export class UserType implements Omit<UserRecord, 'attributes'> {
  @Field(() => ID, { description: 'The Keycloak user id.' })
  id: string;

  @Field(() => String, { description: 'Equal to the email unless the realm allows separate usernames.' })
  username: string;

  @Field(() => String, { description: "The user's email address." })
  email: string;

  @Field(() => String, { description: 'Given name.' })
  firstName: string;

  @Field(() => String, { description: 'Family name.' })
  lastName: string;

  @Field(() => Boolean, { description: 'Whether the user may sign in.' })
  enabled: boolean;

  @Field(() => Boolean, { description: 'Whether the user has proven the email address.' })
  emailVerified: boolean;

  @Field(() => SyncStatusEnum, { description: 'Whether the local record has reached Keycloak.' })
  syncStatus: SyncStatus;

  @Field(() => Date, { description: 'When the user was created.' })
  createdAt: Date;

  @Field(() => Date, { description: "When the user's record last changed." })
  updatedAt: Date;
}

/** The paging arguments every cursor connection at the root takes (users, auditEvents). */
@ArgsType()
export class ConnectionArgs {
  @Field(() => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE, description: 'Page size, 1 to 200 (forward paging).' })
  first: number | null;

  @Field(() => String, { nullable: true, description: 'The endCursor of the previous page: the page after it (forward paging).' })
  after: string | null;

  @Field(() => Int, {
    nullable: true,
    description: 'Page size, 1 to 200, counted back from before, or from the end of the list (backward paging). Not with first or after.',
  })
  last: number | null;

  @Field(() => String, {
    nullable: true,
    description: 'The startCursor of the next page: the page before it (backward paging). Not with first or after.',
  })
  before: string | null;
}

/**
 * The window a connection's arguments ask for; `first` counts as given only when the
 * operation gave it a value. An explicit null is no value, as for any optional argument.
 */
export function pageWindowOf({ first, after, last, before }: ConnectionArgs, info: GraphQLResolveInfo): PageWindow {
  return pageWindow({ first: first ?? DEFAULT_PAGE_SIZE, firstGiven: argumentGiven(info, 'first') && first !== null, after, last, before });
}

@ObjectType('PageInfo', { description: 'Where a page of a cursor connection lies in its list (Relay).' })
export class PageInfoType {
  @Field(() => Boolean, {
    description: 'Whether items follow this page. When paging backward (last, before): whether items follow before.',
  })
  hasNextPage: boolean;

  @Field(() => Boolean, {
    description: 'Whether items precede this page. When paging forward (first, after): whether items precede after.',
  })
  hasPreviousPage: boolean;

  @Field(() => String, { nullable: true, description: "The cursor of the page's first item, to pass as before; null on an empty page." })
  startCursor: string | null;

  @Field(() => String, { nullable: true, description: "The cursor of the page's last item, to pass as after; null on an empty page." })
  endCursor: string | null;
}

@ObjectType('UserEdge', { description: 'One user in a page, with its cursor.' })
export class UserEdgeType {
  @Field(() => String, { description: 'Opaque position of this user: pass it as after or before.' })
  cursor: string;

  @Field(() => UserType, { description: 'The user.' })
  node: UserRecord;
}

@ObjectType('UserConnection', { description: 'A page of users (Relay cursor connection).' })
export class UserConnectionType {
  @Field(() => [UserEdgeType], { description: 'The users of this page, each with its cursor.' })
  edges: UserEdgeType[];

  @Field(() => PageInfoType, { description: 'Cursors and whether more pages exist either way.' })
  pageInfo: PageInfoType;
}

@InputType('UserFilter', { description: 'Criteria for users; all given ones must match.' })
export class UserFilterInput {
  @Field(() => String, { nullable: true, description: 'Matches email, username, first or last name (case-insensitive, partial).' })
  search?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'Only enabled (true) or disabled (false) users.' })
  enabled?: boolean | null;

  @Field(() => ID, { nullable: true, description: 'Only users assigned this role directly.' })
  roleId?: string | null;

  @Field(() => ID, { nullable: true, description: 'Only direct members of this group.' })
  groupId?: string | null;

  @Field(() => ID, { nullable: true, description: 'Only members of this tenant.' })
  tenantId?: string | null;

  @Field(() => ID, {
    nullable: true,
    description: 'Users who hold this privilege, by any path (as privilegeGrants shows them). An id that is no privilege matches no one.',
  })
  privilegeId?: string | null;
}

@ObjectType('UserPayload', { description: 'The answer of a write to a user.' })
export class UserPayloadType extends MutationOutcome {
  @Field(() => UserType, { description: 'The user as the write left it.' })
  user: UserRecord;
}
