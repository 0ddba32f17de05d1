import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant, type TestUser, type TokenSet } from '../support/keycloak.js';
import { useTenancy } from '../support/tenancy.js';
import { decodeToken, offlineGrant, refreshAtKeycloak } from '../support/tokens.js';

// A user's Keycloak sessions, online and offline: listed live from Keycloak, and ended
// through the journal so that refresh tokens fail at once and earlier access tokens are
// refused from the next request, in every gateway process.
const config = inject('config');
const { url: keycloakUrl, apiClientId, apiClientSecret } = config.keycloak;

const ME = '{ me { id user { id } } }';
const MY_SESSIONS = '{ me { id sessions { id ipAddress startedAt lastAccessAt clients offline } } }';
const USER_SESSIONS = 'query($userId: ID!) { userSessions(userId: $userId) { id ipAddress startedAt lastAccessAt clients offline } }';
const END = 'mutation($userId: ID!) { endUserSessions(userId: $userId) { message timestamp } }';
const SIGN_OUT_EVERYWHERE = 'mutation { signOutEverywhere { message timestamp } }';
const UNKNOWN_ID = '00000000-0000-4000-8000-00000000abcd';

interface Session {
  id: string;
  ipAddress: string | null;
  startedAt: string;
  lastAccessAt: string;
  clients: string[];
  offline: boolean;
}

let gateway: TestGateway;
/** A second gateway process's worth of state (its own caller cache, its own PostgreSQL listener). */
let other: TestGateway;
/** An administrator of this file's own (Keycloak refuses concurrent logins of one account). */
let admin: TestUser;
let adminToken: string;

beforeAll(async () => {
  [gateway, other] = await Promise.all([startTestGateway(), startTestGateway()]);
  admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
  adminToken = (await passwordGrant(admin.email, admin.password)).access_token;
  expect(codeOf(await gateway.graphql(ME, { token: adminToken }))).toBeUndefined();
});
afterAll(() => Promise.all([gateway?.close(), other?.close()]));

const codeOf = (response: { errors?: { extensions: { code: string } }[] }) => response.errors?.[0]?.extensions.code;

async function asAdmin(query: string, variables: Record<string, unknown> = {}) {
  const response = await gateway.graphql(query, { token: adminToken, variables });
  expect(response.errors, query).toBeUndefined();
  return response.data!;
}

/**
 * A user of the realm, known to the gateway (their first `me` mirrors them), signed in once
 * through the API client.
 */
async function signedInUser(): Promise<{ user: TestUser; online: TokenSet }> {
  const user = await createKeycloakUser();
  const online = await passwordGrant(user.email, user.password);
  expect(codeOf(await gateway.graphql(ME, { token: online.access_token }))).toBeUndefined();
  return { user, online };
}

/** A second, offline session of `user` (offlineGrant), with a way to refresh it at Keycloak. */
async function offlineSession(user: TestUser) {
  const { client, refreshToken } = await offlineGrant(user);
  return { client, refreshToken, refresh: () => refreshAtKeycloak(refreshToken, client) };
}

const auditOf = (targetId: string) =>
  sql<{ action: string; status: string; actor_id: string | null; details: Record<string, unknown> }>(
    `select action, status, actor_id, details from audit_events where target_id = $1 and action = 'USER_SESSIONS_END' order by at`,
    [targetId],
  );

/** Sessions in a stable order: online first. */
const sorted = (sessions: Session[]) => [...sessions].sort((a, b) => Number(a.offline) - Number(b.offline));

describe('userSessions and Me.sessions', () => {
  it("list a user's online and offline sessions live from Keycloak: clients by id, address, times, offline flag", async () => {
    const before = Date.now();
    const { user, online } = await signedInUser();
    const offline = await offlineSession(user);

    const { userSessions } = (await asAdmin(USER_SESSIONS, { userId: user.id })) as { userSessions: Session[] };
    const [onlineSession, offlineOne] = sorted(userSessions);
    expect(userSessions).toHaveLength(2);
    expect(onlineSession).toMatchObject({ id: decodeToken(online.access_token).payload.sid, clients: [apiClientId], offline: false });
    expect(offlineOne).toMatchObject({ clients: [offline.client.clientId], offline: true });
    expect(offlineOne!.id).toMatch(/:offline$/);
    for (const session of userSessions) {
      expect(session.ipAddress).toMatch(/^(127\.0\.0\.1|::1|0:0:0:0:0:0:0:1)$/);
      // Keycloak counts whole seconds.
      expect(Date.parse(session.startedAt)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(Date.parse(session.lastAccessAt)).toBeGreaterThanOrEqual(Date.parse(session.startedAt));
      expect(Date.parse(session.lastAccessAt)).toBeLessThanOrEqual(Date.now());
    }

    // The user reads the same, as their own.
    const mine = await gateway.graphql<{ me: { id: string; sessions: Session[] } }>(MY_SESSIONS, { token: online.access_token });
    expect(mine.errors).toBeUndefined();
    expect(mine.data!.me.id).toBe(user.id);
    expect(sorted(mine.data!.me.sessions)).toEqual(sorted(userSessions));
  });

  it("a user's own sessions are only ever theirs: the administrator's me.sessions does not show another user's", async () => {
    const { user } = await signedInUser();
    const mine = await gateway.graphql<{ me: { sessions: Session[] } }>(MY_SESSIONS, { token: adminToken });
    expect(mine.errors).toBeUndefined();
    const theirs = ((await asAdmin(USER_SESSIONS, { userId: user.id })) as { userSessions: Session[] }).userSessions;
    const ids = new Set(mine.data!.me.sessions.map((session) => session.id));
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.filter((session) => ids.has(session.id))).toEqual([]);
  });

  it('answers NOT_FOUND to an administrator for an unknown user, and BAD_USER_INPUT for an id that is not one', async () => {
    expect(codeOf(await gateway.graphql(USER_SESSIONS, { token: adminToken, variables: { userId: UNKNOWN_ID } }))).toBe('NOT_FOUND');
    expect(codeOf(await gateway.graphql(USER_SESSIONS, { token: adminToken, variables: { userId: 'not-an-id' } }))).toBe('BAD_USER_INPUT');
  });
});

describe('endUserSessions', () => {
  it('ends every session: refresh tokens fail at Keycloak, earlier access tokens are refused at once in every process, a new sign-in works, and the audit trail names the administrator', async () => {
    const { user, online } = await signedInUser();
    const offline = await offlineSession(user);
    // The other process has the user's record cached from this request.
    expect(codeOf(await other.graphql(ME, { token: online.access_token }))).toBeUndefined();

    const { endUserSessions } = await asAdmin(END, { userId: user.id });
    expect(endUserSessions.message).toContain(user.email);
    // A sign-in right after the end, most often within the same second as the end: it must
    // be told from the tokens the end refuses (src/modules/sessions/sessions-end.ts).
    const fresh = await passwordGrant(user.email, user.password);

    expect(await refreshAtKeycloak(online.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await offline.refresh()).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(codeOf(await gateway.graphql(ME, { token: online.access_token }))).toBe('UNAUTHENTICATED');
    // Another process learns of the end from PostgreSQL's announcement.
    await expect
      .poll(async () => codeOf(await other.graphql(ME, { token: online.access_token })), { timeout: 10_000, interval: 50 })
      .toBe('UNAUTHENTICATED');
    // Only the session signed in since is left.
    const left = ((await asAdmin(USER_SESSIONS, { userId: user.id })) as { userSessions: Session[] }).userSessions;
    expect(left.map((session) => [session.id, session.offline])).toEqual([[decodeToken(fresh.access_token).payload.sid, false]]);

    // The sign-in since the end works, in both processes.
    for (const process of [gateway, other]) {
      const me = await process.graphql(ME, { token: fresh.access_token });
      expect(me.errors).toBeUndefined();
      expect(me.data!.me.id).toBe(user.id);
    }
    expect(await refreshAtKeycloak(fresh.refresh_token)).toMatchObject({ status: 200 });

    const adminId = decodeToken(adminToken).payload.sub;
    expect(await auditOf(user.id)).toEqual([
      { action: 'USER_SESSIONS_END', status: 'SUCCEEDED', actor_id: adminId, details: { email: user.email } },
    ]);
    const [ended] = await sql<{ refused_before: Date; checked_until: Date; ended_at: Date }>(
      'select refused_before, checked_until, ended_at from user_sessions_ended where user_id = $1',
      [user.id],
    );
    // The earlier token was issued before the window's end; the window lies at the end.
    expect(decodeToken(online.access_token).payload.iat as number).toBeLessThanOrEqual(ended!.checked_until.getTime() / 1000);
    expect(ended!.refused_before.getTime()).toBeLessThanOrEqual(ended!.ended_at.getTime());
  });

  it('a token issued within the second of an end counts only while Keycloak still has its session', async () => {
    const { user, online: removed } = await signedInUser();
    const kept = await passwordGrant(user.email, user.password);
    const [a, b] = [decodeToken(removed.access_token).payload, decodeToken(kept.access_token).payload] as { iat: number; sid: string }[];
    // An end in the very second(s) both tokens were issued: the second cannot tell whether a
    // token came before or after it, its session can. The end removed one session, not the other.
    expect((await keycloakAdmin('DELETE', `/sessions/${a!.sid}`)).status).toBe(204);
    await sql(
      `insert into user_sessions_ended (user_id, refused_before, checked_until, ended_at) values ($1, to_timestamp($2), to_timestamp($3), now())`,
      [user.id, Math.min(a!.iat, b!.iat), Math.max(a!.iat, b!.iat)],
    );

    await expect
      .poll(async () => codeOf(await gateway.graphql(ME, { token: removed.access_token })), { timeout: 10_000, interval: 50 })
      .toBe('UNAUTHENTICATED');
    for (const process of [gateway, other]) expect(codeOf(await process.graphql(ME, { token: kept.access_token }))).toBeUndefined();
  });

  it('answers NOT_FOUND to an administrator for an unknown user, and records nothing', async () => {
    expect(codeOf(await gateway.graphql(END, { token: adminToken, variables: { userId: UNKNOWN_ID } }))).toBe('NOT_FOUND');
    expect(await auditOf(UNKNOWN_ID)).toEqual([]);
  });
});

describe('signOutEverywhere', () => {
  it('ends every session of the caller, this one included, and a new sign-in works', async () => {
    const { user, online } = await signedInUser();
    const second = await passwordGrant(user.email, user.password);
    expect(codeOf(await gateway.graphql(ME, { token: second.access_token }))).toBeUndefined();
    const listed = await gateway.graphql<{ me: { sessions: Session[] } }>(MY_SESSIONS, { token: online.access_token });
    expect(listed.data!.me.sessions.map((session) => session.id).sort()).toEqual(
      [decodeToken(online.access_token).payload.sid, decodeToken(second.access_token).payload.sid].sort(),
    );

    const answer = await gateway.graphql(SIGN_OUT_EVERYWHERE, { token: online.access_token });
    expect(answer.errors).toBeUndefined();
    // Signing in again right away, most often within the second of the end.
    const fresh = await passwordGrant(user.email, user.password);

    for (const tokens of [online, second]) {
      expect(await refreshAtKeycloak(tokens.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
      expect(codeOf(await gateway.graphql(ME, { token: tokens.access_token }))).toBe('UNAUTHENTICATED');
    }
    expect(codeOf(await gateway.graphql(SIGN_OUT_EVERYWHERE, { token: second.access_token }))).toBe('UNAUTHENTICATED');

    expect(codeOf(await gateway.graphql(ME, { token: fresh.access_token }))).toBeUndefined();
    expect(await auditOf(user.id)).toEqual([
      { action: 'USER_SESSIONS_END', status: 'SUCCEEDED', actor_id: user.id, details: { email: user.email } },
    ]);
  });

  it('answers UNAUTHENTICATED without a token', async () => {
    expect(codeOf(await gateway.graphql(SIGN_OUT_EVERYWHERE))).toBe('UNAUTHENTICATED');
  });
});

describe("a user manager and others' sessions", () => {
  let managerToken: string;
  beforeAll(async () => {
    const manager = await createKeycloakUser({ realmRoles: ['priv_user_management'] });
    managerToken = (await passwordGrant(manager.email, manager.password)).access_token;
    expect(codeOf(await gateway.graphql(ME, { token: managerToken }))).toBeUndefined();
  });

  it('lists and ends the sessions of a user holding nothing more than the manager', async () => {
    const { user, online } = await signedInUser();
    const listed = await gateway.graphql<{ userSessions: Session[] }>(USER_SESSIONS, {
      token: managerToken,
      variables: { userId: user.id },
    });
    expect(listed.errors).toBeUndefined();
    expect(listed.data!.userSessions.map((session) => session.id)).toEqual([decodeToken(online.access_token).payload.sid]);

    expect(codeOf(await gateway.graphql(END, { token: managerToken, variables: { userId: user.id } }))).toBeUndefined();
    expect(await refreshAtKeycloak(online.refresh_token)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(await auditOf(user.id)).toMatchObject([{ status: 'SUCCEEDED', actor_id: decodeToken(managerToken).payload.sub }]);
  });

  it("cannot list nor end an administrator's sessions, and an unknown id answers the same: FORBIDDEN", async () => {
    for (const userId of [admin.id, UNKNOWN_ID]) {
      for (const query of [USER_SESSIONS, END]) {
        const response = await gateway.graphql(query, { token: managerToken, variables: { userId } });
        expect(codeOf(response), `${query} ${userId}`).toBe('FORBIDDEN');
        expect(response.data?.userSessions ?? response.data?.endUserSessions ?? null).toBeNull();
      }
    }
    // The administrator's sessions live on, and nothing was recorded.
    expect(codeOf(await gateway.graphql(ME, { token: adminToken }))).toBeUndefined();
    expect(await auditOf(admin.id)).toEqual([]);
  });

  it("a user without user management reads no one else's sessions", async () => {
    const { user } = await signedInUser();
    const { online: someoneElse } = await signedInUser();
    const token = someoneElse.access_token;
    expect(codeOf(await gateway.graphql(USER_SESSIONS, { token, variables: { userId: user.id } }))).toBe('FORBIDDEN');
    expect(codeOf(await gateway.graphql(END, { token, variables: { userId: user.id } }))).toBe('FORBIDDEN');
    expect(codeOf(await gateway.graphql(USER_SESSIONS, { variables: { userId: user.id } }))).toBe('UNAUTHENTICATED');
    expect(await auditOf(user.id)).toEqual([]);
  });
});

describe('realm tenancy (TENANCY_MODE=realm): sessions in the realm the account lives in', () => {
  const tenancy = useTenancy('realm');

  it("lists a tenant owner's sessions in the tenant's realm, and ends them there", async () => {
    const owner = await tenancy.tenantOwner();
    const { gateway: realmGateway } = tenancy;
    const sid = decodeToken(owner.token).payload.sid;
    const mine = await realmGateway.graphql<{ me: { sessions: Session[] } }>(MY_SESSIONS, { token: owner.token });
    expect(mine.errors).toBeUndefined();
    expect(mine.data!.me.sessions.map((session) => [session.id, session.clients, session.offline])).toEqual([[sid, [apiClientId], false]]);
    const listed = await realmGateway.graphql<{ userSessions: Session[] }>(USER_SESSIONS, {
      token: adminToken,
      variables: { userId: owner.id },
    });
    expect(listed.data?.userSessions.map((session) => session.id)).toEqual([sid]);

    expect(codeOf(await realmGateway.graphql(END, { token: adminToken, variables: { userId: owner.id } }))).toBeUndefined();

    const tenantTokenEndpoint = `${keycloakUrl}/realms/${owner.realm}/protocol/openid-connect/token`;
    const refreshed = await fetch(tenantTokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: apiClientId,
        client_secret: apiClientSecret,
        refresh_token: owner.refreshToken,
      }),
    });
    expect({ status: refreshed.status, body: await refreshed.json() }).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect(codeOf(await realmGateway.graphql(ME, { token: owner.token }))).toBe('UNAUTHENTICATED');
    const fresh = await passwordGrant(owner.email, owner.password, owner.realm);
    expect(codeOf(await realmGateway.graphql(ME, { token: fresh.access_token }))).toBeUndefined();
  });
});
