/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  mutation AcceptInvitation($input: AcceptInvitationInput!) {\n    acceptInvitation(input: $input) {\n      role\n      tenant {\n        id\n        name\n      }\n      user {\n        id\n        email\n      }\n      keycloakLoginHint\n    }\n  }\n": typeof types.AcceptInvitationDocument,
    "\n  query EventAccess {\n    me {\n      id\n      roles\n      currentTenant {\n        id\n      }\n      tenants {\n        role\n        tenant {\n          id\n        }\n      }\n    }\n  }\n": typeof types.EventAccessDocument,
    "\n  fragment IdentityEventFields on IdentityEvent {\n    id\n    type\n    origin\n    occurredAt\n    actorId\n    subjectType\n    subjectId\n    tenantId\n    before\n    after\n  }\n": typeof types.IdentityEventFieldsFragmentDoc,
    "\n  query Events($filter: EventFilter, $first: Int, $after: String, $last: Int, $before: String) {\n    events(filter: $filter, first: $first, after: $after, last: $last, before: $before) {\n      edges {\n        cursor\n        node {\n          ...IdentityEventFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": typeof types.EventsDocument,
    "\n  subscription IdentityEvents($filter: EventFilter) {\n    identityEvents(filter: $filter) {\n      ...IdentityEventFields\n    }\n  }\n": typeof types.IdentityEventsDocument,
    "\n  query Me {\n    me {\n      id\n      user {\n        id\n        email\n        firstName\n        lastName\n      }\n      roles\n      privileges\n      tenants {\n        role\n        tenant {\n          id\n          name\n        }\n      }\n      currentTenant {\n        id\n        name\n      }\n    }\n  }\n": typeof types.MeDocument,
    "\n  mutation Signup($input: SignupInput!) {\n    signup(input: $input) {\n      user {\n        id\n        email\n      }\n      tenant {\n        id\n        name\n      }\n    }\n  }\n": typeof types.SignupDocument,
    "\n  query Users($filter: UserFilter, $first: Int, $after: String, $last: Int, $before: String) {\n    users(filter: $filter, first: $first, after: $after, last: $last, before: $before) {\n      totalCount\n      edges {\n        cursor\n        node {\n          id\n          email\n          firstName\n          lastName\n          enabled\n          roles {\n            id\n            displayName\n          }\n          groups {\n            id\n            name\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": typeof types.UsersDocument,
    "\n  query UserPickers {\n    roles {\n      id\n      name\n      displayName\n      description\n    }\n    groups {\n      id\n      name\n    }\n  }\n": typeof types.UserPickersDocument,
    "\n  mutation CreateUser($input: CreateUserInput!) {\n    createUser(input: $input) {\n      user {\n        id\n        email\n      }\n    }\n  }\n": typeof types.CreateUserDocument,
};
const documents: Documents = {
    "\n  mutation AcceptInvitation($input: AcceptInvitationInput!) {\n    acceptInvitation(input: $input) {\n      role\n      tenant {\n        id\n        name\n      }\n      user {\n        id\n        email\n      }\n      keycloakLoginHint\n    }\n  }\n": types.AcceptInvitationDocument,
    "\n  query EventAccess {\n    me {\n      id\n      roles\n      currentTenant {\n        id\n      }\n      tenants {\n        role\n        tenant {\n          id\n        }\n      }\n    }\n  }\n": types.EventAccessDocument,
    "\n  fragment IdentityEventFields on IdentityEvent {\n    id\n    type\n    origin\n    occurredAt\n    actorId\n    subjectType\n    subjectId\n    tenantId\n    before\n    after\n  }\n": types.IdentityEventFieldsFragmentDoc,
    "\n  query Events($filter: EventFilter, $first: Int, $after: String, $last: Int, $before: String) {\n    events(filter: $filter, first: $first, after: $after, last: $last, before: $before) {\n      edges {\n        cursor\n        node {\n          ...IdentityEventFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": types.EventsDocument,
    "\n  subscription IdentityEvents($filter: EventFilter) {\n    identityEvents(filter: $filter) {\n      ...IdentityEventFields\n    }\n  }\n": types.IdentityEventsDocument,
    "\n  query Me {\n    me {\n      id\n      user {\n        id\n        email\n        firstName\n        lastName\n      }\n      roles\n      privileges\n      tenants {\n        role\n        tenant {\n          id\n          name\n        }\n      }\n      currentTenant {\n        id\n        name\n      }\n    }\n  }\n": types.MeDocument,
    "\n  mutation Signup($input: SignupInput!) {\n    signup(input: $input) {\n      user {\n        id\n        email\n      }\n      tenant {\n        id\n        name\n      }\n    }\n  }\n": types.SignupDocument,
    "\n  query Users($filter: UserFilter, $first: Int, $after: String, $last: Int, $before: String) {\n    users(filter: $filter, first: $first, after: $after, last: $last, before: $before) {\n      totalCount\n      edges {\n        cursor\n        node {\n          id\n          email\n          firstName\n          lastName\n          enabled\n          roles {\n            id\n            displayName\n          }\n          groups {\n            id\n            name\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n": types.UsersDocument,
    "\n  query UserPickers {\n    roles {\n      id\n      name\n      displayName\n      description\n    }\n    groups {\n      id\n      name\n    }\n  }\n": types.UserPickersDocument,
    "\n  mutation CreateUser($input: CreateUserInput!) {\n    createUser(input: $input) {\n      user {\n        id\n        email\n      }\n    }\n  }\n": types.CreateUserDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AcceptInvitation($input: AcceptInvitationInput!) {\n    acceptInvitation(input: $input) {\n      role\n      tenant {\n        id\n        name\n      }\n      user {\n        id\n        email\n      }\n      keycloakLoginHint\n    }\n  }\n"): (typeof documents)["\n  mutation AcceptInvitation($input: AcceptInvitationInput!) {\n    acceptInvitation(input: $input) {\n      role\n      tenant {\n        id\n        name\n      }\n      user {\n        id\n        email\n      }\n      keycloakLoginHint\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query EventAccess {\n    me {\n      id\n      roles\n      currentTenant {\n        id\n      }\n      tenants {\n        role\n        tenant {\n          id\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query EventAccess {\n    me {\n      id\n      roles\n      currentTenant {\n        id\n      }\n      tenants {\n        role\n        tenant {\n          id\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment IdentityEventFields on IdentityEvent {\n    id\n    type\n    origin\n    occurredAt\n    actorId\n    subjectType\n    subjectId\n    tenantId\n    before\n    after\n  }\n"): (typeof documents)["\n  fragment IdentityEventFields on IdentityEvent {\n    id\n    type\n    origin\n    occurredAt\n    actorId\n    subjectType\n    subjectId\n    tenantId\n    before\n    after\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Events($filter: EventFilter, $first: Int, $after: String, $last: Int, $before: String) {\n    events(filter: $filter, first: $first, after: $after, last: $last, before: $before) {\n      edges {\n        cursor\n        node {\n          ...IdentityEventFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query Events($filter: EventFilter, $first: Int, $after: String, $last: Int, $before: String) {\n    events(filter: $filter, first: $first, after: $after, last: $last, before: $before) {\n      edges {\n        cursor\n        node {\n          ...IdentityEventFields\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription IdentityEvents($filter: EventFilter) {\n    identityEvents(filter: $filter) {\n      ...IdentityEventFields\n    }\n  }\n"): (typeof documents)["\n  subscription IdentityEvents($filter: EventFilter) {\n    identityEvents(filter: $filter) {\n      ...IdentityEventFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Me {\n    me {\n      id\n      user {\n        id\n        email\n        firstName\n        lastName\n      }\n      roles\n      privileges\n      tenants {\n        role\n        tenant {\n          id\n          name\n        }\n      }\n      currentTenant {\n        id\n        name\n      }\n    }\n  }\n"): (typeof documents)["\n  query Me {\n    me {\n      id\n      user {\n        id\n        email\n        firstName\n        lastName\n      }\n      roles\n      privileges\n      tenants {\n        role\n        tenant {\n          id\n          name\n        }\n      }\n      currentTenant {\n        id\n        name\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Signup($input: SignupInput!) {\n    signup(input: $input) {\n      user {\n        id\n        email\n      }\n      tenant {\n        id\n        name\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation Signup($input: SignupInput!) {\n    signup(input: $input) {\n      user {\n        id\n        email\n      }\n      tenant {\n        id\n        name\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Users($filter: UserFilter, $first: Int, $after: String, $last: Int, $before: String) {\n    users(filter: $filter, first: $first, after: $after, last: $last, before: $before) {\n      totalCount\n      edges {\n        cursor\n        node {\n          id\n          email\n          firstName\n          lastName\n          enabled\n          roles {\n            id\n            displayName\n          }\n          groups {\n            id\n            name\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"): (typeof documents)["\n  query Users($filter: UserFilter, $first: Int, $after: String, $last: Int, $before: String) {\n    users(filter: $filter, first: $first, after: $after, last: $last, before: $before) {\n      totalCount\n      edges {\n        cursor\n        node {\n          id\n          email\n          firstName\n          lastName\n          enabled\n          roles {\n            id\n            displayName\n          }\n          groups {\n            id\n            name\n          }\n        }\n      }\n      pageInfo {\n        hasNextPage\n        hasPreviousPage\n        startCursor\n        endCursor\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query UserPickers {\n    roles {\n      id\n      name\n      displayName\n      description\n    }\n    groups {\n      id\n      name\n    }\n  }\n"): (typeof documents)["\n  query UserPickers {\n    roles {\n      id\n      name\n      displayName\n      description\n    }\n    groups {\n      id\n      name\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateUser($input: CreateUserInput!) {\n    createUser(input: $input) {\n      user {\n        id\n        email\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation CreateUser($input: CreateUserInput!) {\n    createUser(input: $input) {\n      user {\n        id\n        email\n      }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;