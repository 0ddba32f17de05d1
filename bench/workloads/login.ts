import { alternating } from '../alternating.js';
import { graphqlData, type BenchContext, type WorkloadResult } from '../context.js';
import { tokenRequest } from '../keycloak.js';
import type { ServerProcess } from '../processes.js';
import { met } from '../report.js';
import { BENCH_ADMIN } from '../seed.js';
import { figure, number, ratio } from '../stats.js';

const LOGIN = /* GraphQL */ `
  mutation Login($input: LoginInput!) {
    login(input: $input) { tokens { accessToken expiresIn } me { id } }
  }
`;
const LOGINS = 50;
const WARMUP = 3;

/**
 * Workload 7: 50 sequential logins through the gateway's `login`, beside Keycloak's token
 * endpoint alone: the same password grant, for the same user, through the same client, that
 * the gateway sends. One connection at a time, alternating: Keycloak's password hashing
 * dominates both, and concurrent logins of one account would measure Keycloak's contention
 * (keycloak/keycloak#48272), not the gateway.
 */
export async function loginWorkload(ctx: BenchContext, gateway: ServerProcess): Promise<WorkloadResult> {
  const { apiClientId, apiClientSecret } = ctx.config.keycloak;
  const throughGateway = async () => {
    const data = await graphqlData(gateway.url, LOGIN, {
      variables: { input: { username: BENCH_ADMIN.email, password: BENCH_ADMIN.password } },
    });
    if (!data.login.tokens?.accessToken) throw new Error('login answered no tokens');
  };
  const keycloakAlone = async () => {
    const tokens = await tokenRequest(ctx.keycloak.url, ctx.keycloak.realm, {
      grant_type: 'password',
      client_id: apiClientId,
      client_secret: apiClientSecret,
      username: BENCH_ADMIN.email,
      password: BENCH_ADMIN.password,
    });
    if (!tokens.access_token) throw new Error('the password grant answered no access token');
  };
  const { gateway: times, baseline } = await alternating(
    ctx,
    { name: 'login', count: LOGINS, warmup: WARMUP },
    throughGateway,
    keycloakAlone,
  );
  // What one login costs the gateway in SQL statements (the caller's record, looked up once the token verifies).
  await gateway.command('count-start');
  await throughGateway();
  const statements = Number(await gateway.command('count-stop'));

  const { p50, p95 } = times;
  const { p50: kcP50, p95: kcP95 } = baseline;
  const r50 = p50.median / kcP50.median;
  const workload = '7. `login` (50 sequential)';
  return {
    rows: [
      {
        workload,
        measure: 'p50 latency',
        gateway: figure(p50, 'ms'),
        baseline: `${figure(kcP50, 'ms')} (Keycloak's token endpoint alone)`,
        ratio: ratio(r50),
        goal: '≤ 1.1× Keycloak',
        verdict: met(r50 <= 1.1, `a login takes ${ratio(r50)} Keycloak's own time at p50`),
      },
      {
        workload,
        measure: 'p95 latency',
        gateway: figure(p95, 'ms'),
        baseline: `${figure(kcP95, 'ms')} (Keycloak alone)`,
        ratio: ratio(p95.median / kcP95.median),
        goal: '',
        verdict: '',
      },
      { workload, measure: 'SQL statements per login', gateway: number(statements, 0), baseline: '—', ratio: '—', goal: '', verdict: '' },
    ],
    notes: [
      `Workload 7: each login is \`login(input: { username, password })\` for ${BENCH_ADMIN.email}, asking for the access token and \`me { id }\`; ` +
        `Keycloak alone is a password grant at /realms/${ctx.keycloak.realm}/protocol/openid-connect/token for the same user through the same client ` +
        `(the grant the gateway sends). ${WARMUP} logins of each kind warm up first; then one of each in turn, one connection. Difference of the p50 medians: ` +
        `${number(p50.median - kcP50.median)} ms (the gateway's own work: verifying the new token, its SQL, GraphQL, the hop). The bench gateway raises the ` +
        'login rate limits (RATE_LIMIT_LOGIN_PER_IP, RATE_LIMIT_LOGIN_PER_ACCOUNT_IP), which would otherwise refuse the 11th login of one account.',
    ],
  };
}
