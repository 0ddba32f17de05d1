import { randomUUID } from 'node:crypto';
import { pbkdf2Hash } from '../../test/support/password-hashes.js';
import pg from 'pg';
import { graphqlData, type BenchContext, type WorkloadResult } from '../context.js';
import type { ServerProcess } from '../processes.js';
import { met } from '../report.js';
import { EMAIL_DOMAIN, GROUP_NAMES, ROLE_NAMES } from '../seed.js';
import { figure, number, ratio, summarize } from '../stats.js';
import { benchAdminToken } from './me.js';

const IMPORT = /* GraphQL */ `
  mutation Import($input: ImportUsersInput!) {
    importUsers(input: $input) { created failed results { status error { code message } } }
  }
`;
const USERS = 1000;
const WARMUP_USERS = 20;
export const IMPORT_PREFIX = 'bench-import-';
const GOAL = 1.5;
/** A seeded role of the bench's own, not an administrator's: 2,000 new administrators a run would be a strange sight in its logs. */
const ROLE = ROLE_NAMES.find((name) => name.startsWith('role_bench_')) ?? ROLE_NAMES[0]!;

/**
 * The import workload (issue 16): 1,000 users, each with a password hash, a role and a group,
 * imported in one `importUsers` call, beside the same 1,000 in one call of Keycloak's
 * partial import (`POST /admin/realms/{realm}/partialImport`, ifResourceExists FAIL), which
 * is Keycloak's fastest way to make them and does nothing for the mirror, the journal or
 * per-user failures. Every user made here is deleted after each run.
 */
export async function importWorkload(ctx: BenchContext, gateway: ServerProcess): Promise<WorkloadResult> {
  const token = await benchAdminToken(ctx);
  const role = (await ctx.admin.ok<{ id: string; name: string }>('GET', `/roles/${ROLE}`)).body;
  const [group] = (await ctx.admin.ok<{ id: string; name: string; path: string }[]>('GET', `/groups?search=${GROUP_NAMES[0]}&exact=true`))
    .body;
  if (!group) throw new Error(`the seeded group ${GROUP_NAMES[0]} is missing`);
  // One hash for every imported user: Keycloak stores it as given, so its cost is the same for any.
  const hash = pbkdf2Hash('Bench-import-1');
  const tag = randomUUID().slice(0, 6);
  let batch = 0;
  const people = (side: string, count: number) => {
    batch += 1;
    return Array.from({ length: count }, (_, i) => ({
      email: `${IMPORT_PREFIX}${tag}-${side}${batch}-${i}@${EMAIL_DOMAIN}`,
      firstName: 'Imported',
      lastName: `User ${i}`,
    }));
  };

  const throughGateway = async (count: number) => {
    const users = people('g', count).map((user) => ({ ...user, passwordHash: hash, roleIds: [role.id], groupIds: [group.id] }));
    const started = performance.now();
    const data = await graphqlData(gateway.url, IMPORT, { token, variables: { input: { users, sendPasswordSetupEmail: false } } });
    const elapsed = performance.now() - started;
    if (data.importUsers.created !== count) {
      throw new Error(`importUsers created ${data.importUsers.created} of ${count}: ${JSON.stringify(data.importUsers.results[0])}`);
    }
    return elapsed;
  };
  const partialImport = async (count: number) => {
    const credential = {
      type: 'password',
      secretData: JSON.stringify({ value: hash.hash, salt: hash.salt, additionalParameters: {} }),
      credentialData: JSON.stringify({ hashIterations: hash.iterations, algorithm: hash.algorithm, additionalParameters: {} }),
    };
    const users = people('k', count).map((user) => ({
      username: user.email,
      ...user,
      enabled: true,
      credentials: [credential],
      realmRoles: [role.name],
      groups: [group.path],
    }));
    const started = performance.now();
    const answer = await ctx.admin.ok<{ added: number }>('POST', '/partialImport', { ifResourceExists: 'FAIL', users });
    const elapsed = performance.now() - started;
    if (answer.body.added !== count) throw new Error(`partial import added ${answer.body.added} of ${count}`);
    return elapsed;
  };

  const gatewayRuns: number[] = [];
  const keycloakRuns: number[] = [];
  try {
    await throughGateway(WARMUP_USERS);
    await partialImport(WARMUP_USERS);
    await deleteImported(ctx);
    for (let run = 1; run <= ctx.runs; run++) {
      await ctx.progress.step(
        `import, run ${run}/${ctx.runs}: ${USERS} users through importUsers, ${USERS} through partialImport`,
        async () => {
          // Alternating which goes first, so that neither always meets a Keycloak just busied by the other.
          if (run % 2 === 1) {
            gatewayRuns.push(await throughGateway(USERS));
            keycloakRuns.push(await partialImport(USERS));
          } else {
            keycloakRuns.push(await partialImport(USERS));
            gatewayRuns.push(await throughGateway(USERS));
          }
        },
      );
      await ctx.progress.step('Delete the imported users', () => deleteImported(ctx));
    }
  } finally {
    await deleteImported(ctx);
  }

  const gatewayTime = summarize(gatewayRuns.map((ms) => ms / 1000));
  const keycloakTime = summarize(keycloakRuns.map((ms) => ms / 1000));
  const r = gatewayTime.median / keycloakTime.median;
  const workload = `6. \`importUsers\` (${number(USERS, 0)} users)`;
  return {
    rows: [
      {
        workload,
        measure: 'whole import',
        gateway: figure(gatewayTime, 's'),
        baseline: `${figure(keycloakTime, 's')} (Keycloak partialImport)`,
        ratio: ratio(r),
        goal: `≤ ${GOAL}× Keycloak`,
        verdict: met(r <= GOAL, `an import takes ${ratio(r)} Keycloak's partial import`),
      },
      {
        workload,
        measure: 'users per second',
        gateway: number(USERS / gatewayTime.median),
        baseline: `${number(USERS / keycloakTime.median)} (Keycloak partialImport)`,
        ratio: '—',
        goal: '',
        verdict: '',
      },
    ],
    notes: [
      `Workload 6: ${number(USERS, 0)} users, each with a pbkdf2-sha256 hash (27,500 iterations), one role (${ROLE}) and one group (${GROUP_NAMES[0]}), ` +
        `in one \`importUsers\` call (sendPasswordSetupEmail false) against one POST /admin/realms/${ctx.keycloak.realm}/partialImport with the same users ` +
        "(ifResourceExists FAIL, as the master admin). The gateway writes each user through its journal, Keycloak's user, role and group calls " +
        'and its mirror, a few users at once; the partial import is one Keycloak transaction with no journal, no mirror, no per-user outcome. ' +
        `${WARMUP_USERS} users of each kind warm up first; every imported user is deleted after each run.`,
    ],
  };
}

/** Every user an import run made, this one's or an interrupted earlier one's, gone from Keycloak and the mirror. */
export async function deleteImported(ctx: BenchContext): Promise<void> {
  const made = await ctx.admin.all<{ id: string; username: string }>(`/users?briefRepresentation=true&username=${IMPORT_PREFIX}`);
  for (const user of made.filter((u) => u.username.startsWith(IMPORT_PREFIX))) {
    await ctx.admin.call('DELETE', `/users/${user.id}`);
  }
  const db = new pg.Client({ connectionString: ctx.config.databaseUrl });
  await db.connect();
  try {
    await db.query('delete from users where email like $1', [`${IMPORT_PREFIX}%@${EMAIL_DOMAIN}`]);
  } finally {
    await db.end();
  }
}
