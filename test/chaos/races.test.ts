import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keycloakUsersByEmail } from '../support/sync.js';
import { awaitConsistency, figuresOf, recordFigures } from './consistency.js';
import { Operations, startRig, type Rig } from './rig.js';

// Clients racing each other: the same sign-up sent twenty times at once, spelled differently.
let rig: Rig;
beforeAll(async () => {
  // The race is the point here, not the abuse limits: signup's are lifted for this gateway.
  const unlimited = { max: 1000, windowSeconds: 60 };
  rig = await startRig('chaos_races', (config) => ({
    ...config,
    rateLimits: { ...config.rateLimits, signup: { perAccountAndIp: unlimited, perIp: unlimited } },
  }));
});
afterAll(() => rig?.close());

const SIGNUP = 'mutation($input: SignupInput!) { signup(input: $input) { user { id email syncStatus } } }';

describe('chaos: racing clients', () => {
  it('20 concurrent signups with one email in mixed case: exactly one user, in Keycloak and in PostgreSQL', async () => {
    const ops = new Operations();
    const email = `race-${randomUUID().slice(0, 8)}@example.test`;
    const spellings = Array.from({ length: 20 }, (_, i) => [...email].map((c, j) => ((i >> (j % 5)) & 1 ? c.toUpperCase() : c)).join(''));

    const answers = await Promise.all(
      spellings.map((spelling) =>
        ops.run(
          () =>
            rig.gateway.graphql(SIGNUP, {
              variables: { input: { email: spelling, password: 'Race-pass-1', firstName: 'R', lastName: 'C' } },
            }),
          email,
          'signup',
        ),
      ),
    );

    expect(ops.acknowledged).toEqual([email]);
    expect(answers.filter((answer) => answer.code !== undefined).map((answer) => answer.code)).toEqual(Array(19).fill('CONFLICT'));
    const inKeycloak = await keycloakUsersByEmail(email, { sql: rig.backends.sql, realm: rig.backends.realm });
    expect(inKeycloak).toHaveLength(1);
    expect(await rig.backends.sql('select id from users where email = $1', [email])).toEqual([{ id: inKeycloak[0]!.id }]);

    const outcome = await awaitConsistency(
      { backends: rig.backends, acknowledged: ops.acknowledged, pendingTimeoutSeconds: 0 },
      { settle: () => rig.runJobs() },
    );
    recordFigures(figuresOf('20 concurrent signups, one email in mixed case', ops.attempted, ops.acknowledged.length, outcome));
    expect(outcome.verdict.problems).toEqual([]);
  });
});
