import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import { PRIVILEGE_PREFIX, ROLE_PREFIX } from '../../src/keycloak/realm-catalog.js';
import type { IsolatedBackends } from '../support/isolated.js';

/**
 * The one consistency check every chaos test ends with, over a realm and a database of the
 * test's own (test/support/isolated.ts), so that the whole of both can be compared:
 *
 * 1. every local user with SYNCED status exists in Keycloak with the same email, direct
 *    roles and groups (else: orphaned locally, or drifted);
 * 2. every Keycloak user of the realm (but the bootstrap admin, which provisioning made) is
 *    in the mirror under the same id and SYNCED (else: orphaned in Keycloak);
 * 3. every acknowledged operation's user is in both (else: lost);
 * 4. no local user still waits for Keycloak and no journal entry is PENDING past the timeout,
 *    the jobs having run.
 */
export interface Verdict {
  lost: string[];
  orphanedInKeycloak: string[];
  orphanedLocally: string[];
  /** Everything wrong, in words; empty when consistent. */
  problems: string[];
}

interface KeycloakUser {
  id: string;
  email?: string;
  username: string;
}

export interface CheckScope {
  backends: IsolatedBackends;
  /** Emails whose creation the gateway acknowledged (answered with a user). */
  acknowledged: string[];
  /** Journal entries PENDING for longer than this are a problem (0: any PENDING entry is). */
  pendingTimeoutSeconds: number;
}

export async function checkConsistency({ backends, acknowledged, pendingTimeoutSeconds }: CheckScope): Promise<Verdict> {
  const admin = await realmAdmin(backends.realm);
  const verdict: Verdict = { lost: [], orphanedInKeycloak: [], orphanedLocally: [], problems: [] };
  const managed = (name: string) => name.startsWith(ROLE_PREFIX) || name.startsWith(PRIVILEGE_PREFIX);

  const local = await backends.sql<{ id: string; email: string; sync_status: string; roles: string[]; groups: string[] }>(
    `select u.id, u.email, u.sync_status,
            coalesce((select array_agg(r.name order by r.name) from user_roles ur join realm_roles r on r.id = ur.role_id where ur.user_id = u.id), '{}') as roles,
            coalesce((select array_agg(g.name order by g.name) from user_groups ug join groups g on g.id = ug.group_id where ug.user_id = u.id), '{}') as groups
       from users u where u.realm is null`,
  );
  const remote = await admin<KeycloakUser[]>('GET', '/users?first=0&max=10000&briefRepresentation=true');
  const remoteById = new Map(remote.map((user) => [user.id, user]));
  const localById = new Map(local.map((user) => [user.id, user]));

  for (const user of local) {
    if (user.sync_status !== 'SYNCED') {
      verdict.problems.push(`${user.email} is still ${user.sync_status} locally after the jobs ran`);
      continue;
    }
    const inKeycloak = remoteById.get(user.id);
    if (!inKeycloak) {
      verdict.orphanedLocally.push(user.email);
      verdict.problems.push(`${user.email} is SYNCED locally but Keycloak has no user ${user.id}`);
      continue;
    }
    if ((inKeycloak.email ?? inKeycloak.username).toLowerCase() !== user.email) {
      verdict.problems.push(`${user.id}: email ${user.email} locally, ${inKeycloak.email} in Keycloak`);
    }
    const roles = (await admin<{ name: string }[]>('GET', `/users/${user.id}/role-mappings/realm`))
      .map((r) => r.name)
      .filter(managed)
      .sort();
    const groups = (await admin<{ name: string }[]>('GET', `/users/${user.id}/groups`)).map((g) => g.name).sort();
    if (JSON.stringify(roles) !== JSON.stringify(user.roles)) {
      verdict.problems.push(`${user.email}: roles ${JSON.stringify(user.roles)} locally, ${JSON.stringify(roles)} in Keycloak`);
    }
    if (JSON.stringify(groups) !== JSON.stringify(user.groups)) {
      verdict.problems.push(`${user.email}: groups ${JSON.stringify(user.groups)} locally, ${JSON.stringify(groups)} in Keycloak`);
    }
  }

  const bootstrap = inject('config').bootstrapAdmin?.email.toLowerCase();
  for (const user of remote) {
    const email = (user.email ?? user.username).toLowerCase();
    if (email === bootstrap) continue;
    const mirrored = localById.get(user.id);
    if (mirrored?.sync_status !== 'SYNCED') {
      verdict.orphanedInKeycloak.push(email);
      verdict.problems.push(
        `Keycloak has ${email} (${user.id}) but the mirror does not${mirrored ? ` (it is ${mirrored.sync_status})` : ''}`,
      );
    }
  }

  for (const email of new Set(acknowledged.map((e) => e.toLowerCase()))) {
    const inKeycloak = remote.filter((user) => (user.email ?? user.username).toLowerCase() === email);
    const mirrored = local.filter((user) => user.email === email);
    if (inKeycloak.length !== 1 || mirrored.length !== 1 || inKeycloak[0]!.id !== mirrored[0]!.id) {
      verdict.lost.push(email);
      verdict.problems.push(
        `acknowledged ${email}: ${inKeycloak.length} in Keycloak, ${mirrored.length} locally, ids ${inKeycloak[0]?.id} / ${mirrored[0]?.id}`,
      );
    }
  }

  const stale = await backends.sql<{ id: string; action: string; error: string | null }>(
    `select id, action, error from audit_events where status = 'PENDING' and updated_at <= now() - make_interval(secs => $1)`,
    [pendingTimeoutSeconds],
  );
  for (const event of stale) verdict.problems.push(`journal entry ${event.id} (${event.action}) still PENDING: ${event.error ?? ''}`);
  return verdict;
}

/**
 * Runs `settle` (the jobs: a sync run, a reconciler run) and checks, again and again, until
 * consistent or `timeoutMs`; answers the last verdict and how long it took.
 */
export async function awaitConsistency(
  scope: CheckScope,
  options: { settle?: () => Promise<unknown>; timeoutMs?: number; intervalMs?: number } = {},
): Promise<{ verdict: Verdict; ms: number }> {
  const started = performance.now();
  const deadline = started + (options.timeoutMs ?? 30_000);
  for (;;) {
    // A failed job run is retried, as the gateway's own job loop does.
    let settleError: unknown;
    await options.settle?.().catch((error: unknown) => {
      settleError = error;
    });
    const verdict = await checkConsistency(scope);
    if (settleError) verdict.problems.push(`a job run failed: ${(settleError as Error).message}`);
    if (verdict.problems.length === 0 || performance.now() > deadline) return { verdict, ms: Math.round(performance.now() - started) };
    await sleep(options.intervalMs ?? 250);
  }
}

export interface ChaosFigures {
  fault: string;
  attempted: number;
  acknowledged: number;
  lost: number;
  orphanedInKeycloak: number;
  orphanedLocally: number;
  timeToConsistencyMs: number;
}

/** Appends a test's figures to the file `npm run chaos` prints as a table (CHAOS_REPORT); nothing when unset. */
export function recordFigures(figures: ChaosFigures): void {
  const file = process.env.CHAOS_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify(figures)}\n`);
}

/** The figures of a fault from its verdict. */
export function figuresOf(fault: string, attempted: number, acknowledged: number, outcome: { verdict: Verdict; ms: number }): ChaosFigures {
  return {
    fault,
    attempted,
    acknowledged,
    lost: outcome.verdict.lost.length,
    orphanedInKeycloak: outcome.verdict.orphanedInKeycloak.length,
    orphanedLocally: outcome.verdict.orphanedLocally.length,
    timeToConsistencyMs: outcome.ms,
  };
}

/** The realm's admin API as the master admin, with one token for the whole check. */
async function realmAdmin(realm: string) {
  const { url, masterAdmin } = inject('config').keycloak;
  const tokenResponse = await fetch(`${url}/realms/master/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', ...masterAdmin! }),
  });
  if (!tokenResponse.ok) throw new Error(`master admin login failed: ${tokenResponse.status}`);
  const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
  return async <T>(method: string, path: string): Promise<T> => {
    const response = await fetch(`${url}/admin/realms/${encodeURIComponent(realm)}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
    });
    if (!response.ok) throw new Error(`${method} ${path} in realm ${realm}: ${response.status}`);
    return (await response.json()) as T;
  };
}
