import { Field, ID, ObjectType } from 'type-graphql';

/** A Keycloak session of a user, as the gateway shows it. */
export interface SessionRecord {
  id: string;
  ipAddress: string | null;
  startedAt: Date;
  lastAccessAt: Date;
  /** Client ids (not Keycloak's internal uuids), sorted. */
  clients: string[];
  offline: boolean;
}

@ObjectType('UserSession', { description: "A user's Keycloak session, online or offline: live data from Keycloak, not the mirror." })
export class UserSessionType implements SessionRecord {
  @Field(() => ID, {
    description:
      "Keycloak's session id; an offline session, which Keycloak keeps under the id of the session it came from, ends in :offline.",
  })
  id: string;

  @Field(() => String, { nullable: true, description: 'The address the session was started from, as Keycloak saw it.' })
  ipAddress: string | null;

  @Field(() => Date, { description: 'When the session started.' })
  startedAt: Date;

  @Field(() => Date, { description: 'When the session was last used (a sign-in or a token refresh).' })
  lastAccessAt: Date;

  @Field(() => [String], { description: 'Clients the session signed in to, by client id.' })
  clients: string[];

  @Field(() => Boolean, { description: 'Whether this is an offline session (an offline token), which outlives sign-outs until ended.' })
  offline: boolean;
}
