import type DataLoader from 'dataloader';
import { AppError, unauthenticated } from './errors.js';
import { fromKeycloakError } from './keycloak/keycloak-errors.js';
import type { CallerRecord, UserRecordCache } from './modules/users/user-record-cache.js';
import type { SessionService } from './modules/sessions/session.service.js';
import type { SessionsEnd } from './modules/sessions/sessions-end.js';
import type { UserMirror } from './modules/users/user-mirror.js';
import type { UserRecord } from './modules/users/user.type.js';
import { shouldMirrorClaims } from './auth/claims.js';
import type { Principal } from './auth/token-verifier.js';

/** The person a request acts for, as the gateway admits them. */
export interface Caller {
  /** The token's principal, its roles and privileges narrowed to those the mirror grants too. */
  principal: Principal;
  /** Their mirror record. */
  user: UserRecord;
}

/** What admission needs of the request's context (GatewayContext, src/context.ts, has it). */
export interface AdmissionContext {
  userRecords: Pick<UserRecordCache, 'get' | 'forget'>;
  loaders: {
    userById: DataLoader<string, UserRecord | null>;
    effectiveRolesByUserId: DataLoader<string, { name: string }[]>;
    sessionsEndByUserId: DataLoader<string, SessionsEnd | null>;
  };
  services: {
    userMirror: Pick<UserMirror, 'wasDeleted' | 'mirrorFromKeycloak' | 'mirrorClaims'>;
    sessions: Pick<SessionService, 'survivesEnd'>;
  };
}

/**
 * Admits the person a verified token names (M2 of the security review). A token is
 * Keycloak's word as of when it was issued; the mirror is the gateway's word now, kept
 * fresh by PostgreSQL's announcements (src/modules/users/user-record-cache.ts). So:
 * - a record that is missing, disabled, or that the gateway saw deleted refuses the token
 *   (UNAUTHENTICATED), from the very next request;
 * - the roles and privileges that count are those both the token and the mirror grant: a
 *   role removed through the gateway stops working at once, and one granted since the
 *   token was issued waits for the next token, as Keycloak would have it;
 * - a token issued before the user's sessions were all ended (endUserSessions,
 *   signOutEverywhere) is refused (UNAUTHENTICATED), a token of a sign-in since is not
 *   (src/modules/sessions/sessions-end.ts);
 * - a person the mirror has never seen (made in Keycloak's console, say) is looked up in
 *   Keycloak once and mirrored with their roles and groups; a token alone never creates a record;
 * - a client's service account acts for a program, not a person: it is admitted nowhere.
 * Answered from the process's cache for callers seen before, so `me` stays as cheap as it was.
 */
export async function admit(principal: Principal, context: AdmissionContext): Promise<Caller> {
  if (principal.kind === 'client') {
    throw new AppError('FORBIDDEN', "A client's service-account token cannot act for a person: sign in as a user");
  }
  const known =
    (await context.userRecords.get(principal.userId, (id) => readCaller(id, context))) ?? (await firstSight(principal, context));
  if (!known?.user.enabled) throw unauthenticated();
  if (known.sessionsEnd && !(await context.services.sessions.survivesEnd(known.user, principal, known.sessionsEnd))) {
    throw unauthenticated();
  }
  const user = shouldMirrorClaims(known.user, principal) ? await mirrorClaims(principal, context) : known.user;
  const held = new Set(known.effectiveRoles);
  const granted = (names: string[]) => names.filter((name) => held.has(name));
  return { user, principal: { ...principal, roles: granted(principal.roles), privileges: granted(principal.privileges) } };
}

/**
 * The caller's record, then their effective role names and last end of sessions, from the
 * mirror. The record first: three statements at once on one request's EntityManager left two
 * pooled connections held for good when PostgreSQL dropped them mid-request (logs.test.ts),
 * and a stop then waited for them forever; two at once, as before, do not.
 */
async function readCaller(id: string, { loaders }: AdmissionContext): Promise<CallerRecord | null> {
  const user = await loaders.userById.load(id);
  if (!user) return null;
  const [roles, sessionsEnd] = await Promise.all([loaders.effectiveRolesByUserId.load(id), loaders.sessionsEndByUserId.load(id)]);
  return { user, effectiveRoles: roles.map((role) => role.name), sessionsEnd };
}

/** A person the mirror lacks: unless the gateway saw them deleted, Keycloak says whether they exist. */
async function firstSight(principal: Principal, context: AdmissionContext): Promise<CallerRecord | null> {
  const { userMirror } = context.services;
  if (await userMirror.wasDeleted(principal.userId)) return null;
  const mirrored = await userMirror.mirrorFromKeycloak(principal.userId, principal.tenantRealm).catch((error: unknown) => {
    throw fromKeycloakError(error);
  });
  if (!mirrored) return null;
  // The request's loaders may hold the absence read a moment ago.
  context.loaders.userById.clear(principal.userId);
  context.loaders.effectiveRolesByUserId.clear(principal.userId);
  return readCaller(principal.userId, context);
}

/** The token's newer profile claims are written into the record (just-in-time mirroring). */
async function mirrorClaims(principal: Principal, context: AdmissionContext): Promise<UserRecord> {
  const user = await context.services.userMirror.mirrorClaims(principal);
  context.userRecords.forget(principal.userId);
  // Deleted while this request ran.
  if (!user) throw unauthenticated();
  // The rest of the request sees the record as now written.
  context.loaders.userById.clear(principal.userId).prime(principal.userId, user);
  return user;
}
