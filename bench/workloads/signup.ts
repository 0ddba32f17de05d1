import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { type AlternatingResult, alternating } from '../alternating.js';
import { graphqlData, type BenchContext, type WorkloadResult } from '../context.js';
import { clientCredentialsToken, KeycloakAdminRest, tokenRequest } from '../keycloak.js';
import type { ServerProcess } from '../processes.js';
import { met } from '../report.js';
import { EMAIL_DOMAIN } from '../seed.js';
import { figure, number, ratio } from '../stats.js';

const SIGNUP = /* GraphQL */ `
  mutation Signup($input: SignupInput!) {
    signup(input: $input) { user { id email } tokens { accessToken expiresIn } }
  }
`;
const SIGNUPS = 50;
const WARMUP = 3;
const PASSWORD = 'Bench-signup-1';
export const SIGNUP_PREFIX = 'bench-signup-';

/**
 * Workload 3: 50 sequential sign-ups through the gateway, beside what Keycloak alone takes
 * for the same: create the user with its password (admin API, as the gateway's service
 * account) and a password grant. Every account made here is deleted afterwards, from
 * Keycloak and the mirror, so the seeded data set stays as it was.
 */
export async function signupWorkload(ctx: BenchContext, gateway: ServerProcess): Promise<WorkloadResult> {
  const { apiClientId, apiClientSecret } = ctx.config.keycloak;
  const serviceAccount = new KeycloakAdminRest(ctx.keycloak, clientCredentialsToken(ctx.keycloak, apiClientId, apiClientSecret));
  const tag = randomUUID().slice(0, 6);
  let sequence = 0;
  const newEmail = (side: string) => `${SIGNUP_PREFIX}${tag}-${side}-${++sequence}@${EMAIL_DOMAIN}`;

  const throughGateway = async () => {
    const email = newEmail('g');
    const data = await graphqlData(gateway.url, SIGNUP, {
      variables: { input: { email, password: PASSWORD, firstName: 'Sign', lastName: 'Up' } },
    });
    if (!data.signup.tokens?.accessToken) throw new Error(`signup of ${email} answered no tokens`);
  };
  const keycloakAlone = async () => {
    const email = newEmail('k');
    await serviceAccount.ok('POST', '/users', {
      username: email,
      email,
      firstName: 'Sign',
      lastName: 'Up',
      enabled: true,
      credentials: [{ type: 'password', value: PASSWORD, temporary: false }],
    });
    await tokenRequest(ctx.keycloak.url, ctx.keycloak.realm, {
      grant_type: 'password',
      client_id: apiClientId,
      client_secret: apiClientSecret,
      username: email,
      password: PASSWORD,
    });
  };
  let statements = Number.NaN;
  let measured: AlternatingResult;
  try {
    measured = await alternating(ctx, { name: 'signup', count: SIGNUPS, warmup: WARMUP }, throughGateway, keycloakAlone);
    // What one sign-up costs the gateway in SQL statements (journal, mirror, the lookups around them).
    await gateway.command('count-start');
    await throughGateway();
    statements = Number(await gateway.command('count-stop'));
  } finally {
    await ctx.progress.step('Delete the accounts made by the sign-ups', () => deleteSignups(ctx));
  }

  const { p50, p95 } = measured.gateway;
  const { p50: kcP50, p95: kcP95 } = measured.baseline;
  const r50 = p50.median / kcP50.median;
  const r95 = p95.median / kcP95.median;
  const workload = '3. `signup` (50 sequential)';
  return {
    rows: [
      {
        workload,
        measure: 'p50 latency',
        gateway: figure(p50, 'ms'),
        baseline: `${figure(kcP50, 'ms')} (Keycloak alone)`,
        ratio: ratio(r50),
        goal: '≤ 1.2× Keycloak',
        verdict: met(r50 <= 1.2, `a sign-up takes ${ratio(r50)} Keycloak's own time at p50`),
      },
      {
        workload,
        measure: 'p95 latency',
        gateway: figure(p95, 'ms'),
        baseline: `${figure(kcP95, 'ms')} (Keycloak alone)`,
        ratio: ratio(r95),
        goal: '≤ 1.2× Keycloak',
        verdict: met(r95 <= 1.2, `a sign-up takes ${ratio(r95)} Keycloak's own time at p95`),
      },
      { workload, measure: 'SQL statements per sign-up', gateway: number(statements, 0), baseline: '—', ratio: '—', goal: '', verdict: '' },
    ],
    notes: [
      `Workload 3: each sign-up is \`signup(input: { email, password, firstName, lastName })\` asking for the user and tokens; Keycloak alone is ` +
        `POST /admin/realms/${ctx.keycloak.realm}/users with the password (as the gateway's service account, token reused) then a password grant (the same grant the gateway sends). ` +
        `${WARMUP} sign-ups of each kind warm up first; then one of each in turn. Difference of the p50 medians: ` +
        `${number(p50.median - kcP50.median)} ms (the gateway's own work: its SQL statements, GraphQL, the hop). The bench gateway raises the sign-up rate limits ` +
        '(RATE_LIMIT_SIGNUP_PER_IP, RATE_LIMIT_SIGNUP_PER_ACCOUNT_IP), which would otherwise refuse the 21st sign-up from one address.',
    ],
  };
}

/** Every account a sign-up run made, this one's or an interrupted earlier one's, gone from Keycloak and the mirror. */
export async function deleteSignups(ctx: BenchContext): Promise<void> {
  const made = await ctx.admin.all<{ id: string; username: string }>(`/users?briefRepresentation=true&username=${SIGNUP_PREFIX}`);
  for (const user of made.filter((u) => u.username.startsWith(SIGNUP_PREFIX))) {
    await ctx.admin.call('DELETE', `/users/${user.id}`);
  }
  const db = new pg.Client({ connectionString: ctx.config.databaseUrl });
  await db.connect();
  try {
    await db.query('delete from users where email like $1', [`${SIGNUP_PREFIX}%@${EMAIL_DOMAIN}`]);
  } finally {
    await db.end();
  }
}
