import { type AddressInfo, connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/stack/free-port.js';
import { sql } from '../support/database.js';
import { realmRoleIds } from '../support/directory.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { startGatewayProcess } from '../support/gateway-process.js';
import { captureLog, LEVEL, type CapturedLog } from '../support/log-capture.js';
import { createKeycloakUser, passwordGrant, renewedToken } from '../support/keycloak.js';

// A fifth attacker-reviewer's probes of what came in on 2026-12-05 05:06-05:20: the request
// body read with stream events and plain paths routed without the URL parser (src/http.ts),
// login and refreshToken keeping the process's cache of callers (src/schema.ts), cache
// lookups counted in plain numbers (src/metrics/metrics.ts), and the privilege filter's
// planner estimate (selectPrivilegeReach). Each test is named after what it tried; those
// that found a hole (ATTACK5-n) were seen failing before the fix, the others are the
// probes that held, kept as guards.

const codeOf = (response: { errors?: { extensions: { code: string } }[] }) => response.errors?.[0]?.extensions.code;
const LOGIN = 'mutation($input: LoginInput!) { login(input: $input) { tokens { accessToken refreshToken } me { id } } }';
const REFRESH = 'mutation($t: String!) { refreshToken(refreshToken: $t) { tokens { accessToken refreshToken } me { id } } }';
const ME = '{ me { user { id enabled } } }';

/** What came back on a raw connection: the status line's code (if any), and whether the server closed it. */
interface RawAnswer {
  status?: number;
  text: string;
  closed: boolean;
}

/** Sends `parts` on a connection of its own (each part written as it comes), and reads until the server closes or `until` holds. */
function raw(
  port: number,
  parts: (string | Buffer)[],
  until: (text: string) => boolean = () => false,
  options: { end?: boolean } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const done = (closed: boolean) => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      resolve({ status: status ? Number(status) : undefined, text, closed });
      socket.destroy();
    };
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (until(text)) done(false);
    });
    socket.on('close', () => done(true));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' || error.code === 'EPIPE' ? done(true) : reject(error),
    );
    socket.on('connect', async () => {
      for (const part of parts) {
        if (socket.destroyed) return;
        await new Promise<void>((written) => socket.write(part, () => written()));
      }
      if (options.end && !socket.destroyed) socket.end();
    });
  });
}

/** A complete answer: its headers and, by content-length, its body. */
const answered = (text: string) => {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const length = /content-length: (\d+)/i.exec(text.slice(0, end))?.[1];
  return length === undefined ? /\r\n0\r\n\r\n$/.test(text) : text.length >= end + 4 + Number(length);
};

const post = (target: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  Buffer.concat([
    Buffer.from(
      `POST ${target} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${Object.entries(
        headers,
      )
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('')}\r\n`,
    ),
    Buffer.isBuffer(body) ? body : Buffer.from(body),
  ]);

describe('the HTTP layer: bodies read with events, plain paths routed without the URL parser', () => {
  let gateway: TestGateway;
  let capture: CapturedLog;
  let port: number;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeAll(async () => {
    capture = captureLog('info');
    gateway = await startTestGateway(undefined, { log: capture.log });
    port = Number(new URL(gateway.url).port);
    process.on('unhandledRejection', onUnhandled);
  });
  afterAll(async () => {
    process.off('unhandledRejection', onUnhandled);
    await gateway?.close();
  });
  const serverErrors = () => capture.lines.filter((line) => line.level >= LEVEL.error);

  it('guard: a body of exactly 1 MiB is served; one byte more is 413 on a connection kept for the next request', async () => {
    const query = JSON.stringify({ query: '{ publicHello }' });
    const exact = query + ' '.repeat(1024 * 1024 - query.length);
    const served = await raw(port, [post('/graphql', exact)], answered);
    expect(served.status).toBe(200);
    expect(served.text).toContain('Hello from the IAM gateway');
    // One byte past, then a second request on the same connection: the first was read to its end.
    const next = post('/graphql', query);
    const over = await raw(
      port,
      [post('/graphql', `${exact} `), next],
      (text) => text.split('HTTP/1.1 ').length > 2 && answered(text.slice(text.lastIndexOf('HTTP/1.1 '))),
    );
    expect(over.status).toBe(413);
    expect(over.text).toMatch(/HTTP\/1\.1 200[\s\S]*Hello from the IAM gateway/);
    expect(over.text.toLowerCase()).toContain('cache-control: no-store');
  });

  it('guard: a body of exactly 16 MiB is drained and refused with 413; past it the connection is cut, and the process serves on', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 0x20);
    const drained = await raw(port, [post('/graphql', big)], answered);
    expect(drained.status).toBe(413);
    const cut = await raw(port, [post('/graphql', Buffer.alloc(16 * 1024 * 1024 + 1, 0x20))], answered);
    // Cut while sending: either the 413 made it out before the cut, or nothing did.
    expect([413, undefined]).toContain(cut.status);
    expect((await gateway.graphql('{ publicHello }')).data).toEqual({ publicHello: 'Hello from the IAM gateway' });
    expect(serverErrors()).toEqual([]);
  });

  it('guard: a chunked body in many small chunks is read whole; a chunked body past the drain limit is cut', async () => {
    const body = JSON.stringify({ query: '{ publicHello }' });
    const chunks = [...body].map((char) => `1\r\n${char}\r\n`);
    const head = 'POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n';
    const served = await raw(port, [head, ...chunks, '0\r\n\r\n'], answered);
    expect(served.status).toBe(200);
    expect(served.text).toContain('Hello from the IAM gateway');
    const mib = Buffer.alloc(1024 * 1024, 0x20);
    const piece = Buffer.concat([Buffer.from(`${mib.length.toString(16)}\r\n`), mib, Buffer.from('\r\n')]);
    const flood = await raw(port, [head, ...Array.from({ length: 17 }, () => piece), '0\r\n\r\n'], answered);
    expect([413, undefined]).toContain(flood.status);
    expect(serverErrors()).toEqual([]);
  });

  it('guard: a client that stops midway through its body, or sends a broken chunk, leaves no error, no rejection and no hung request', async () => {
    const head = (length: number) =>
      `POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;
    const cuts = [
      // Half a body, then gone.
      () =>
        new Promise<void>((resolve) => {
          const socket: Socket = connect(port, '127.0.0.1', () =>
            socket.write(`${head(1000)}{"query":`, () =>
              setImmediate(() => {
                socket.destroy();
                resolve();
              }),
            ),
          );
        }),
      // Half a body, then half-closed: the server sees the end of the stream mid-body.
      () => raw(port, [`${head(1000)}{"query":`], undefined, { end: true }).then(() => undefined),
      // A chunk size that is not hex: the parser fails mid-body.
      () =>
        raw(port, [
          'POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n',
          '5\r\n{"que\r\n',
          'zz\r\n',
        ]).then(() => undefined),
    ];
    for (let round = 0; round < 20; round++) for (const cut of cuts) await cut();
    // The half-closed ones end when the server closes them; the destroyed ones when it notices.
    await expect.poll(() => connectionsOf(gateway), { timeout: 10_000 }).toBe(0);
    expect(unhandled).toEqual([]);
    expect(serverErrors()).toEqual([]);
    expect((await gateway.graphql('{ publicHello }')).data).toEqual({ publicHello: 'Hello from the IAM gateway' });
  });

  it('guard: a whole body followed at once by the client half-closing, and two pipelined requests, are each answered', async () => {
    const body = JSON.stringify({ query: '{ publicHello }' });
    const halfClosed = await raw(port, [post('/graphql', body)], answered, { end: true });
    expect(halfClosed.status).toBe(200);
    expect(halfClosed.text).toContain('Hello from the IAM gateway');
    const twice = await raw(
      port,
      [Buffer.concat([post('/graphql', body), post('/graphql', body)])],
      (text) => text.split('Hello from the IAM gateway').length > 2,
    );
    expect(twice.text.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(serverErrors()).toEqual([]);
  });

  it('guard: request targets are routed as the URL parser routes them', async () => {
    const body = JSON.stringify({ query: '{ publicHello }' });
    const statusOf = async (target: string) => (await raw(port, [post(target, body)], answered)).status;
    // Served: the plain path, and what the parser turns into it.
    for (const target of ['/graphql', 'http://x/graphql', '/x/../graphql', '/./graphql', 'http://x:1/graphql']) {
      expect(await statusOf(target), target).toBe(200);
    }
    // Not the API: other spellings the parser keeps apart.
    for (const target of ['//graphql', '/graphql/', '/%67raphql', '/GRAPHQL', '*', '/graphql;x', '/graphql%2f', '/graphql%00']) {
      expect(await statusOf(target), target).toBe(404);
    }
    // A query string goes to Apollo, whose CSRF prevention and GET rules decide.
    expect(await statusOf('/graphql?x')).toBe(200);
    expect(serverErrors()).toEqual([]);
  });

  it('ATTACK5-1: a request target the URL parser rejects (absolute-form with a bad port or host) is 400, not a logged 500', async () => {
    const body = JSON.stringify({ query: '{ publicHello }' });
    for (const target of [
      'http://x:99999/graphql',
      'http://[/graphql',
      'http://x:y/graphql',
      '//x:99999/graphql',
      'http://1.2.3.4.5/graphql',
    ]) {
      const answer = await raw(port, [post(target, body)], answered);
      // Node's parser may refuse it itself (400 and a closed connection); the gateway must never answer 500.
      expect(answer.status, target).toBe(400);
    }
    // The WebSocket upgrade of subscriptions compares the path as text: no parser to throw either.
    const upgrade = await raw(
      port,
      [
        'GET http://x:99999/graphql HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n',
      ],
      answered,
    );
    expect(upgrade.status).toBe(400);
    expect((await gateway.graphql('{ publicHello }')).data).toEqual({ publicHello: 'Hello from the IAM gateway' });
    expect(serverErrors()).toEqual([]);
  });
});

describe('the METRICS_PORT server', () => {
  let gateway: TestGateway;
  let capture: CapturedLog;
  beforeAll(async () => {
    capture = captureLog('info');
    gateway = await startTestGateway((config) => ({ ...config, http: { ...config.http, metricsPort: 0 } }), { log: capture.log });
  });
  afterAll(() => gateway?.close());

  it('ATTACK5-1: a request target the URL parser rejects is not found there, not a logged 500', async () => {
    const port = (gateway.app.metricsServer!.address() as AddressInfo).port;
    for (const target of ['http://x:99999/metrics', 'http://[/metrics']) {
      const answer = await raw(port, [`GET ${target} HTTP/1.1\r\nhost: x\r\n\r\n`], answered);
      expect(answer.status, target).toBe(404);
    }
    expect((await raw(port, ['GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n'], answered)).status).toBe(200);
    expect(capture.lines.filter((line) => line.level >= LEVEL.error)).toEqual([]);
  });
});

/** Connections the gateway's HTTP server still holds open. */
function connectionsOf(gateway: TestGateway): Promise<number> {
  return new Promise((resolve, reject) => gateway.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

describe('login and refreshToken keep the caller cache: two gateways, each with its own cache', () => {
  // Two processes as far as the cache goes: each app has its own UserRecordCache and its own
  // LISTEN connection; a write through one reaches the other only as PostgreSQL's announcement.
  let writer: TestGateway;
  let reader: TestGateway;
  let adminToken: () => Promise<string>;
  let roleIds: Record<string, string>;
  beforeAll(async () => {
    const loginLimit = { max: 1000, windowSeconds: 600 };
    const config = (given: Parameters<Parameters<typeof startTestGateway>[0] & object>[0]) => ({
      ...given,
      redis: undefined,
      rateLimits: { ...given.rateLimits, login: { perAccountAndIp: loginLimit, perIp: loginLimit } },
    });
    [writer, reader] = await Promise.all([startTestGateway(config), startTestGateway(config)]);
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    adminToken = renewedToken(admin.email, admin.password);
    roleIds = await realmRoleIds();
  });
  afterAll(async () => {
    await writer?.close();
    await reader?.close();
  });

  async function asAdmin(query: string, variables: Record<string, unknown>) {
    const response = await writer.graphql(query, { token: await adminToken(), variables });
    expect(response.errors, query).toBeUndefined();
    return response.data!;
  }

  /** A user made through the gateway, signed in on the reader through login (the path that keeps the cache), its record cached there. */
  async function signedInOnReader() {
    const user = {
      email: `attack5-${Math.random().toString(36).slice(2, 10)}@example.test`,
      password: 'Attack5-pass-1a',
      firstName: 'A',
      lastName: 'Five',
    };
    const created = await asAdmin('mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }', { input: user });
    const id = created.createUser.user.id as string;
    const login = await reader.graphql(LOGIN, { variables: { input: { username: user.email, password: user.password } } });
    expect(login.errors).toBeUndefined();
    const { accessToken, refreshToken } = login.data!.login.tokens as { accessToken: string; refreshToken: string };
    // Cached on the reader: its `me` answers, and keeps answering.
    for (let i = 0; i < 3; i++) expect(codeOf(await reader.graphql(ME, { token: accessToken }))).toBeUndefined();
    return { ...user, id, accessToken, refreshToken };
  }

  /** Another user's login and refresh on the reader: the sign-ins that no longer empty its cache. */
  async function otherSignIns() {
    const other = await createKeycloakUser();
    const login = await reader.graphql(LOGIN, { variables: { input: { username: other.email, password: other.password } } });
    expect(login.errors).toBeUndefined();
    const refreshed = await reader.graphql(REFRESH, { variables: { t: login.data!.login.tokens.refreshToken } });
    expect(refreshed.errors).toBeUndefined();
  }

  /** The reader refuses the token at once after the write, or as soon as the announcement arrives: never for longer. */
  async function refusedOnReader(token: string) {
    await expect.poll(async () => codeOf(await reader.graphql(ME, { token })), { timeout: 5_000, interval: 20 }).toBe('UNAUTHENTICATED');
    // And stays refused through other sign-ins on the reader.
    await otherSignIns();
    expect(codeOf(await reader.graphql(ME, { token }))).toBe('UNAUTHENTICATED');
  }

  it('guard: a user disabled through the other gateway is refused on the reader, by token, by login and by refreshToken', async () => {
    const user = await signedInOnReader();
    await otherSignIns();
    await asAdmin('mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }', {
      id: user.id,
      input: { email: user.email, firstName: user.firstName, lastName: user.lastName, enabled: false },
    });
    await refusedOnReader(user.accessToken);
    const login = await reader.graphql(LOGIN, { variables: { input: { username: user.email, password: user.password } } });
    expect(login.data ?? null).toBeNull();
    expect(['UNAUTHENTICATED', 'FORBIDDEN']).toContain(codeOf(login));
    const refreshed = await reader.graphql(REFRESH, { variables: { t: user.refreshToken } });
    expect(refreshed.data ?? null).toBeNull();
    expect(['UNAUTHENTICATED', 'FORBIDDEN']).toContain(codeOf(refreshed));
  });

  it('guard: a user disabled only in the mirror (as a sync would leave it) gets no tokens on the reader, whose cache still held them enabled', async () => {
    const user = await signedInOnReader();
    // Keycloak still says enabled: only the gateway's record refuses.
    await sql('update users set enabled = false, updated_at = now() where id = $1', [user.id]);
    await refusedOnReader(user.accessToken);
    for (const answer of [
      await reader.graphql(LOGIN, { variables: { input: { username: user.email, password: user.password } } }),
      await reader.graphql(REFRESH, { variables: { t: user.refreshToken } }),
    ]) {
      expect(answer.data ?? null).toBeNull();
      expect(codeOf(answer)).toBe('FORBIDDEN');
    }
  });

  it('guard: after endUserSessions through the other gateway, the old access and refresh tokens are refused on the reader; a new login works there', async () => {
    const user = await signedInOnReader();
    await asAdmin('mutation($userId: ID!) { endUserSessions(userId: $userId) { message } }', { userId: user.id });
    await refusedOnReader(user.accessToken);
    const refreshed = await reader.graphql(REFRESH, { variables: { t: user.refreshToken } });
    expect(refreshed.data ?? null).toBeNull();
    expect(codeOf(refreshed)).toBe('UNAUTHENTICATED');
    const again = await reader.graphql(LOGIN, { variables: { input: { username: user.email, password: user.password } } });
    expect(again.errors).toBeUndefined();
    expect(codeOf(await reader.graphql(ME, { token: again.data!.login.tokens.accessToken }))).toBeUndefined();
    // The old token is still refused after the new sign-in cached the user again.
    expect(codeOf(await reader.graphql(ME, { token: user.accessToken }))).toBe('UNAUTHENTICATED');
  });

  it('guard: signOutEverywhere on the reader, then the old refresh token on the reader answers UNAUTHENTICATED and no tokens', async () => {
    const user = await signedInOnReader();
    const out = await reader.graphql('mutation { signOutEverywhere { message } }', { token: user.accessToken });
    expect(out.errors).toBeUndefined();
    expect(codeOf(await reader.graphql(ME, { token: user.accessToken }))).toBe('UNAUTHENTICATED');
    const refreshed = await reader.graphql(REFRESH, { variables: { t: user.refreshToken } });
    expect(refreshed.data ?? null).toBeNull();
    expect(codeOf(refreshed)).toBe('UNAUTHENTICATED');
    expect(codeOf(await writer.graphql(ME, { token: user.accessToken }))).toBe('UNAUTHENTICATED');
  });

  it('guard: a user deleted through the other gateway is refused on the reader, and neither login nor refreshToken brings the record back', async () => {
    const user = await signedInOnReader();
    await asAdmin('mutation($id: ID!) { deleteUser(id: $id) { message } }', { id: user.id });
    await refusedOnReader(user.accessToken);
    const refreshed = await reader.graphql(REFRESH, { variables: { t: user.refreshToken } });
    expect(refreshed.data ?? null).toBeNull();
    expect(codeOf(refreshed)).toBe('UNAUTHENTICATED');
    expect(await sql('select id from users where id = $1', [user.id])).toEqual([]);
  });

  it('guard: a role taken away through the other gateway stops counting on the reader, through other sign-ins', async () => {
    const user = await signedInOnReader();
    await asAdmin('mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }', {
      id: user.id,
      input: { roleIdsToAdd: [roleIds.role_manager!] },
    });
    // A token issued with the role, then the role removed.
    const login = await reader.graphql(LOGIN, { variables: { input: { username: user.email, password: user.password } } });
    const token = login.data!.login.tokens.accessToken as string;
    const roles = async () => (await reader.graphql<{ me: { roles: string[] } }>('{ me { roles } }', { token })).data?.me.roles ?? [];
    expect(await roles()).toContain('role_manager');
    await asAdmin('mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }', {
      id: user.id,
      input: { roleIdsToRemove: [roleIds.role_manager!] },
    });
    await expect.poll(roles, { timeout: 5_000, interval: 20 }).not.toContain('role_manager');
    await otherSignIns();
    expect(await roles()).not.toContain('role_manager');
  });
});

describe('cache lookups counted in plain numbers', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway();
  });
  afterAll(() => gateway?.close());

  it('guard: concurrent scrapes agree, and count each lookup once', async () => {
    const user = await createKeycloakUser();
    const token = (await passwordGrant(user.email, user.password)).access_token;
    const metricsUrl = gateway.url.replace(/\/graphql$/, '/metrics');
    const lookups = (text: string) =>
      Object.fromEntries(
        ['verified_token', 'caller'].map((cache) => [
          cache,
          ['hit', 'miss'].reduce((sum, result) => {
            const line = text
              .split('\n')
              .find((candidate) => candidate.startsWith(`iam_cache_lookups_total{cache="${cache}",result="${result}"} `));
            return sum + (line ? Number(line.split(' ')[1]) : 0);
          }, 0),
        ]),
      );
    const before = lookups(await (await fetch(metricsUrl)).text());
    const requests = 25;
    // Requests and scrapes interleaved: no lookup lost or counted twice by a scrape running beside them.
    const during = await Promise.all([
      ...Array.from({ length: requests }, () => gateway.graphql(ME, { token })),
      ...Array.from({ length: 5 }, () => fetch(metricsUrl).then((response) => response.text())),
    ]);
    for (const answer of during.slice(0, requests))
      expect(codeOf(answer as { errors?: { extensions: { code: string } }[] })).toBeUndefined();
    const scrapes = await Promise.all(Array.from({ length: 8 }, () => fetch(metricsUrl).then((response) => response.text())));
    const after = scrapes.map(lookups);
    for (const counts of after) expect(counts).toEqual(after[0]);
    expect(after[0]).toEqual({ verified_token: before.verified_token! + requests, caller: before.caller! + requests });
    // Prometheus' text format: one TYPE line for the family, counters only going up.
    expect(scrapes[0]!.match(/# TYPE iam_cache_lookups_total counter/g)).toHaveLength(1);
  });
});

describe('users(filter: { privilegeId }) decided by the planner estimate', () => {
  let gateway: TestGateway;
  let adminToken: () => Promise<string>;
  let roleIds: Record<string, string>;
  beforeAll(async () => {
    gateway = await startTestGateway();
    const admin = await createKeycloakUser({ realmRoles: ['role_admin'] });
    adminToken = renewedToken(admin.email, admin.password);
    roleIds = await realmRoleIds();
  });
  afterAll(() => gateway?.close());

  const USERS = 'query($p: ID) { users(first: 5, filter: { privilegeId: $p }) { totalCount edges { node { id } } } }';

  it('guard: any privilegeId (a role, a random, an upper-case, a non-id, a long one) answers data or BAD_USER_INPUT, never a server error', async () => {
    const token = await adminToken();
    const privilege = roleIds.priv_user_management!;
    const given = [
      privilege,
      roleIds.role_admin!,
      '00000000-0000-0000-0000-000000000000',
      privilege.toUpperCase(),
      `${privilege}' or '1'='1`,
      "') union select 1 --",
      'x'.repeat(100_000),
      '',
    ];
    for (const p of given) {
      const answer = await gateway.graphql(USERS, { token, variables: { p } });
      expect([undefined, 'BAD_USER_INPUT'], p.slice(0, 60)).toContain(codeOf(answer));
      expect(answer.status, p.slice(0, 60)).toBeLessThan(500);
    }
    // A role's id and a random one reach nobody.
    for (const p of [roleIds.role_admin!, '00000000-0000-0000-0000-000000000000']) {
      expect((await gateway.graphql(USERS, { token, variables: { p } })).data!.users.totalCount).toBe(0);
    }
  });

  it('guard: a privilege reached through a group lists its holders whichever plan is picked', async () => {
    const token = await adminToken();
    const ask = async (query: string, variables: Record<string, unknown>) => {
      const answer = await gateway.graphql(query, { token, variables });
      expect(answer.errors, query).toBeUndefined();
      return answer.data!;
    };
    const group = await ask('mutation($input: CreateGroupInput!) { createGroup(input: $input) { group { id } } }', {
      input: { groupName: `a5-${Math.random().toString(36).slice(2, 8)}`, privilegeIds: [roleIds.priv_view_reports!] },
    });
    const email = `a5-${Math.random().toString(36).slice(2, 8)}@example.test`;
    const member = await ask('mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }', {
      input: { email, password: 'Attack5-pass-1a', firstName: 'Sub', lastName: 'Member', groupIds: [group.createGroup.group.id] },
    });
    const all = await ask('query($p: ID) { users(first: 100, filter: { privilegeId: $p }) { totalCount edges { node { id } } } }', {
      p: roleIds.priv_view_reports,
    });
    expect(all.users.edges.map((edge: { node: { id: string } }) => edge.node.id)).toContain(member.createUser.user.id);
  });
});

describe('deeply nested JSON in a body of less than 1 MiB', () => {
  let gateway: TestGateway;
  let capture: CapturedLog;
  let token: string;
  beforeAll(async () => {
    capture = captureLog('info');
    gateway = await startTestGateway(undefined, { log: capture.log });
    const user = await createKeycloakUser();
    token = (await passwordGrant(user.email, user.password)).access_token;
  });
  afterAll(() => gateway?.close());

  // 300,000 levels in 600 KB: JSON.parse takes it (V8 parses iteratively), a recursive walk does not.
  // JSON.stringify is recursive too: the body is written by hand.
  const sendRaw = (text: string, headers: Record<string, string> = {}) =>
    fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body: text,
    });
  const nested = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
  const CREATE_TENANT = 'mutation { createTenant(input: { name: "" }) { tenant { id } } }';

  it('ATTACK5-2: an Idempotency-Key mutation whose variables nest 300,000 deep answers BAD_USER_INPUT, not INTERNAL_SERVER_ERROR', async () => {
    const response = await sendRaw(`{"query":${JSON.stringify(CREATE_TENANT)},"variables":{"extra":${nested(300_000)}}}`, {
      'idempotency-key': `attack5-${Math.random().toString(36).slice(2)}`,
    });
    const answer = (await response.json()) as { errors?: { extensions: { code: string } }[] };
    expect(response.status).toBeLessThan(500);
    expect(codeOf(answer)).toBe('BAD_USER_INPUT');
    expect(capture.lines.filter((line) => line.level >= LEVEL.error)).toEqual([]);
  });

  it('guard: the same nesting in variables without a key, in extensions, as operationName, or as the whole body, and JSON bodies that are no request, are refused as bad input', async () => {
    const errorsBefore = capture.lines.filter((line) => line.level >= LEVEL.error).length;
    const bodies = [
      `{"query":${JSON.stringify(CREATE_TENANT)},"variables":{"extra":${nested(300_000)}}}`,
      `{"query":"{ publicHello }","extensions":{"x":${nested(300_000)}}}`,
      `{"query":"{ publicHello }","operationName":${nested(300_000)}}`,
      `{"query":${nested(300_000)}}`,
      nested(300_000),
      // Bodies that are JSON but no request.
      'null',
      '1',
      '"{ publicHello }"',
      'true',
      '{"query":"{ publicHello }","variables":"x"}',
      '{"query":"{ publicHello }","variables":[1]}',
      '{"query":"{ publicHello }","extensions":null,"operationName":5}',
      '\ufeff{"query":"{ publicHello }"}',
    ];
    for (const body of bodies) {
      const response = await sendRaw(body);
      expect(response.status, body.slice(0, 40)).toBeLessThan(500);
      const answer = (await response.json()) as { errors?: { extensions: { code: string } }[] };
      expect(codeOf(answer), body.slice(0, 40)).not.toBe('INTERNAL_SERVER_ERROR');
    }
    expect(capture.lines.filter((line) => line.level >= LEVEL.error).slice(errorsBefore)).toEqual([]);
  });
});

describe('a production gateway process with METRICS_PORT', () => {
  it('ATTACK5-3: one request whose target the URL parser rejects, sent to METRICS_PORT, does not end the process', {
    timeout: 180_000,
  }, async () => {
    const metricsPort = await freePort();
    const gateway = await startGatewayProcess({
      ...inject('config'),
      environment: 'production',
      http: { ...inject('config').http, metricsPort },
    });
    try {
      const answer = await raw(metricsPort, ['GET http://x:99999/metrics HTTP/1.1\r\nhost: x\r\n\r\n'], answered);
      expect(answer.status).toBe(404);
      // Still there: it scrapes and serves.
      expect((await raw(metricsPort, ['GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n'], answered)).status).toBe(200);
      expect((await gateway.graphql('{ publicHello }')).data).toEqual({ publicHello: 'Hello from the IAM gateway' });
    } finally {
      await gateway.kill();
    }
  });
});
