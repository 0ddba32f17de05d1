import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keycloakUsersByEmail } from '../support/sync.js';
import { awaitConsistency, figuresOf, recordFigures } from './consistency.js';
import { chaosEmail, CREATE_USER, Operations, startRig, type Rig } from './rig.js';

// PostgreSQL failing after Keycloak was written: the gateway's connections to PostgreSQL are
// reset (by the TCP proxy between them) the moment Keycloak receives the new user, so the
// local commit that follows fails and the Keycloak side must be compensated.
let rig: Rig;
beforeAll(async () => {
  rig = await startRig('chaos_postgres');
});
afterAll(() => rig?.close());

const userCreation = /^POST \/admin\/realms\/[^/]+\/users\/?$/;
const userDeletion = /^DELETE \/admin\/realms\/[^/]+\/users\/[^/]+$/;

describe('chaos: PostgreSQL', () => {
  it('PostgreSQL failing right after the Keycloak write: the Keycloak user is deleted again (COMPENSATED), or the reconciler settles it when PostgreSQL stays down', async () => {
    const ops = new Operations();
    const token = await rig.token();
    const backends = { sql: rig.backends.sql, realm: rig.backends.realm };
    const create = (email: string) =>
      ops.run(
        () =>
          rig.gateway.graphql(CREATE_USER, {
            token,
            variables: {
              input: {
                email,
                firstName: 'Chaos',
                lastName: 'Postgres',
                password: 'Str0ng-password',
                roleIds: [rig.roleUserId],
                groupIds: [rig.group.id],
              },
            },
          }),
        email,
        'createUser',
      );
    const journal = (email: string) => rig.backends.sql('select status from audit_events where details->>$2 = $1', [email, 'email']);

    // 1. PostgreSQL is cut while Keycloak creates the user, and back by the time the gateway undoes it.
    const compensated = [chaosEmail('pg-compensated'), chaosEmail('pg-compensated')];
    rig.keycloakHttp.failWhen = (request) => {
      if (userCreation.test(request)) rig.postgres.mode = 'reset';
      if (userDeletion.test(request)) rig.postgres.mode = 'pass';
      return false;
    };
    try {
      for (const email of compensated) {
        expect(await create(email)).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
        expect(await keycloakUsersByEmail(email, backends)).toEqual([]);
        expect(await journal(email)).toEqual([{ status: 'COMPENSATED' }]);
      }
    } finally {
      rig.keycloakHttp.failWhen = undefined;
      rig.postgres.mode = 'pass';
    }

    // 2. PostgreSQL stays down until the gateway answered: the undo ran, but could not be
    //    recorded; the entry stays PENDING and the reconciler settles it.
    const unrecorded = chaosEmail('pg-unrecorded');
    rig.keycloakHttp.failWhen = (request) => {
      if (userCreation.test(request)) rig.postgres.mode = 'reset';
      return false;
    };
    try {
      expect(await create(unrecorded)).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
    } finally {
      rig.keycloakHttp.failWhen = undefined;
      rig.postgres.mode = 'pass';
    }
    expect(await keycloakUsersByEmail(unrecorded, backends)).toEqual([]);
    expect(await journal(unrecorded)).toEqual([{ status: 'PENDING' }]);

    // 3. The pool heals: the next write goes through.
    const after = chaosEmail('pg-after');
    expect(await create(after)).toEqual({ syncStatus: 'SYNCED' });

    const outcome = await awaitConsistency(
      { backends: rig.backends, acknowledged: ops.acknowledged, pendingTimeoutSeconds: 0 },
      { settle: () => rig.runJobs() },
    );
    recordFigures(figuresOf('PostgreSQL failing right after the Keycloak write', ops.attempted, ops.acknowledged.length, outcome));
    expect(outcome.verdict.problems).toEqual([]);
    expect(await journal(unrecorded)).toEqual([{ status: 'FAILED' }]);
    expect(ops.acknowledged).toEqual([after]);
  });
});
