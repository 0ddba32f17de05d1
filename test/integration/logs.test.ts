import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { createKeycloakUser, passwordGrant } from '../support/keycloak.js';
import { captureLog, LEVEL, type CapturedLog } from '../support/log-capture.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// PostgreSQL is reached through a proxy, so that one request can find it gone.
let postgres: TcpProxy;
let gateway: TestGateway;
let captured: CapturedLog;
beforeAll(async () => {
  const databaseUrl = new URL(inject('config').databaseUrl);
  postgres = await startTcpProxy({ host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) }, { lingerMs: 500 });
  captured = captureLog();
  gateway = await startTestGateway((config) => ({ ...config, databaseUrl: postgres.url(config.databaseUrl) }), { log: captured.log });
});
afterAll(async () => {
  await gateway?.close();
  await postgres?.close();
});

const requestId = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

describe('logs', () => {
  it('writes one access line per request, with its id, operation, caller id, status and duration, and never the caller’s email', async () => {
    const user = await createKeycloakUser();
    const { access_token: token } = await passwordGrant(user.email, user.password);
    const id = requestId('served');

    const answer = await gateway.graphql('query Who { me { id user { email } } }', { token, headers: { 'x-request-id': id } });

    expect(answer.data).toEqual({ me: { id: user.id, user: { email: user.email } } });
    expect(captured.of(id)).toEqual([
      expect.objectContaining({
        level: LEVEL.info,
        msg: 'request',
        method: 'POST',
        path: '/graphql',
        status: 200,
        operation: 'Who',
        callerId: user.id,
        durationMs: expect.any(Number),
      }),
    ]);
    expect(captured.of(id)[0]).not.toHaveProperty('errorCodes');
    expect(JSON.stringify(captured.lines)).not.toContain(user.email);
  });

  it('a request refused before it runs is named by its document, with its code', async () => {
    const id = requestId('refused');

    await gateway.graphql('query Typo { publicHelo }', { headers: { 'x-request-id': id } });

    expect(captured.of(id)).toEqual([
      expect.objectContaining({ msg: 'request', status: 400, operation: 'Typo', errorCodes: ['BAD_USER_INPUT'] }),
    ]);
  });

  it('ATTACK-4: an operation name of any length is cut in the access line: one request cannot write a megabyte into the info log', async () => {
    const name = `Long${'x'.repeat(500_000)}`;
    for (const [kind, document] of [
      ['refused', `query ${name} { publicHelo }`],
      ['served', `query ${name} { publicHello }`],
    ]) {
      const id = requestId(kind!);
      await gateway.graphql(document!, { headers: { 'x-request-id': id } });
      const [line] = captured.of(id);
      expect(line, kind).toMatchObject({ msg: 'request', operation: `${name.slice(0, 200)}…` });
    }
  });

  it('a failed request: its error line and its access line both carry the request id, the access line the error codes', async () => {
    const user = await createKeycloakUser();
    const { access_token: token } = await passwordGrant(user.email, user.password);
    const id = requestId('failed');
    postgres.mode = 'reset';
    try {
      const answer = await gateway.graphql('query Who { me { id user { email } } }', { token, headers: { 'x-request-id': id } });
      expect(answer.errors?.map((error) => error.extensions.code)).toEqual(['INTERNAL_SERVER_ERROR']);
    } finally {
      postgres.mode = 'pass';
    }

    expect(captured.of(id)).toEqual([
      expect.objectContaining({ level: LEVEL.error, msg: 'unexpected error in a GraphQL operation', err: expect.anything() }),
      expect.objectContaining({
        level: LEVEL.info,
        msg: 'request',
        operation: 'Who',
        callerId: user.id,
        errorCodes: ['INTERNAL_SERVER_ERROR'],
      }),
    ]);
    expect(JSON.stringify(captured.lines)).not.toContain(user.email);
  });
});
