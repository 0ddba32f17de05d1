import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../support/database.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { adminAccessToken } from '../support/keycloak.js';
import { keycloakUsersByEmail, newEmail } from '../support/sync.js';

const CREATE_USER = /* GraphQL */ `
  mutation CreateUser($input: CreateUserInput!) {
    createUser(input: $input) { message user { id email } }
  }
`;

let gateway: TestGateway;
let token: string;
beforeAll(async () => {
  gateway = await startTestGateway();
  token = await adminAccessToken();
});
afterAll(() => gateway?.close());

const input = (email: string) => ({ email, firstName: 'Idem', lastName: 'Potent', password: 'Str0ng-password' });
const createUser = (email: string, key: string) =>
  gateway.graphql(CREATE_USER, { token, variables: { input: input(email) }, headers: { 'idempotency-key': key } });
const creations = (email: string) =>
  sql<{ count: number }>(`select count(*)::int as count from audit_events where action = 'USER_CREATE' and details->>'email' = $1`, [email]);

describe('Idempotency-Key', () => {
  it('a repeated createUser with the same key answers the first result and writes nothing again', async () => {
    const email = newEmail('idem');
    const key = randomUUID();
    const first = await createUser(email, key);
    const again = await createUser(email, key);

    expect(first.errors).toBeUndefined();
    expect(again).toEqual(first);
    expect(await keycloakUsersByEmail(email)).toHaveLength(1);
    expect(await sql('select id from users where email = $1', [email])).toEqual([{ id: first.data!.createUser.user.id }]);
    expect(await creations(email)).toEqual([{ count: 1 }]);
  });

  it('concurrent repeats of one request run it once and all get its answer', async () => {
    const email = newEmail('idem-race');
    const key = randomUUID();
    const answers = await Promise.all(Array.from({ length: 5 }, () => createUser(email, key)));

    const ids = new Set(answers.map((answer) => answer.data?.createUser.user.id));
    expect(answers.map((answer) => answer.errors)).toEqual(Array(5).fill(undefined));
    expect(ids.size).toBe(1);
    expect(await keycloakUsersByEmail(email)).toHaveLength(1);
    expect(await creations(email)).toEqual([{ count: 1 }]);
  });

  it('the same key with a different request answers CONFLICT and writes nothing', async () => {
    const key = randomUUID();
    await createUser(newEmail('idem-a'), key);
    const other = newEmail('idem-b');
    const response = await createUser(other, key);

    expect(response.errors?.[0]).toMatchObject({ extensions: { code: 'CONFLICT', status: 409 } });
    expect(await keycloakUsersByEmail(other)).toEqual([]);
    expect(await sql('select 1 from users where email = $1', [other])).toEqual([]);
  });

  it('a refusal is kept for the key too: repeating it answers the same without running again', async () => {
    const key = randomUUID();
    const weak = await gateway.graphql(CREATE_USER, {
      token,
      variables: { input: { ...input(newEmail('idem-weak')), password: 'weak' } },
      headers: { 'idempotency-key': key },
    });
    expect(weak.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(await sql('select status from idempotency_keys where key = $1', [key])).toEqual([{ status: 'DONE' }]);
  });

  it('queries ignore the header, and a malformed key is refused', async () => {
    const query = await gateway.graphql('{ publicHello }', { headers: { 'idempotency-key': randomUUID() } });
    expect(query.errors).toBeUndefined();
    const malformed = await createUser(newEmail('idem-bad'), 'x'.repeat(300));
    expect(malformed.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
  });
});
