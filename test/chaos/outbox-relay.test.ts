import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { Orm } from '../../src/db/orm.js';
import { openDatabase } from '../../src/database.js';
import { recordEvent } from '../../src/events/outbox.js';
import { startGatewayProcess, type GatewayProcess } from '../support/gateway-process.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { renewedToken } from '../support/keycloak.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { WebhookAdmin } from '../support/webhooks.js';

// PostgreSQL cut between the commit of events and their relay. One gateway process relays
// and delivers, and reaches PostgreSQL through a TCP proxy; the events are committed beside
// it, straight to PostgreSQL, by a writer that runs no relay of its own (as a gateway process
// on another host would, whose relay is down). The proxy resets every connection of the
// relaying process (its pools, its listeners, its job engine's) while events are committed,
// then lets it reconnect. The in-process gateway here only administers the endpoints: its
// relay is stopped once they exist.
const ROUNDS = 3;
const PER_COMMIT = 4;
const TYPE = 'USER_SESSIONS_ENDED';
let backends: IsolatedBackends;
let gateway: TestGateway;
let hooks: WebhookAdmin;
let postgres: TcpProxy;
let relaying: GatewayProcess | undefined;
let writer: Orm;

beforeAll(async () => {
  backends = await isolatedBackends('chaos_relay');
  gateway = await startTestGateway(() => backends.config);
  const admin = inject('config').bootstrapAdmin!;
  hooks = new WebhookAdmin(gateway, renewedToken(admin.email, admin.password, backends.realm));
  await hooks.graphql('{ me { user { id } } }');
  writer = await openDatabase(backends.config.databaseUrl);
  const url = new URL(backends.config.databaseUrl);
  postgres = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) }, { lingerMs: 500 });
});
afterAll(async () => {
  await relaying?.kill();
  await hooks?.cleanUp();
  await gateway?.close();
  await writer?.close();
  await postgres?.close();
  await backends?.close();
});

/** Commits `count` events in one transaction, straight to PostgreSQL: no relay runs with it. */
async function commitEvents(count: number): Promise<void> {
  await writer.em.fork().transactional(async (tx) => {
    for (let n = 0; n < count; n++) await recordEvent(tx, { type: TYPE, subjectType: 'User', subjectId: randomUUID() });
  });
}

describe('chaos: PostgreSQL cut between commit and relay', () => {
  it('every committed event reaches every subscribed endpoint at least once, in order per endpoint, none lost', async () => {
    const endpoints = [await hooks.receiverWithEndpoint({ eventTypes: [TYPE] }), await hooks.receiverWithEndpoint({ eventTypes: [TYPE] })];
    // Everything committed so far is numbered here; from now on only the process behind the proxy relays.
    await vi.waitFor(
      async () => {
        await gateway.app.outbox.relayNow();
        expect(await backends.sql('select id from identity_events where position is null')).toEqual([]);
      },
      { timeout: 20_000, interval: 50 },
    );
    await gateway.app.outbox.stop();
    relaying = await startGatewayProcess({
      ...backends.config,
      databaseUrl: postgres.url(backends.config.databaseUrl),
      jobs: {
        ...backends.config.jobs,
        enabled: true,
        syncIntervalSeconds: 3600,
        reconcileIntervalSeconds: 3600,
        adminEventsIntervalSeconds: 3600,
      },
      webhooks: { ...backends.config.webhooks, pollSeconds: 2 },
    });

    for (let round = 0; round < ROUNDS; round++) {
      await commitEvents(PER_COMMIT);
      // Cut as the relay is told of the commit: it may have numbered none, some or all of them.
      postgres.mode = 'reset';
      postgres.resetAll();
      await commitEvents(PER_COMMIT);
      await commitEvents(PER_COMMIT);
      postgres.mode = 'pass';
    }
    const committed = await backends.sql<{ id: string }>(`select id from identity_events where type = $1 order by seq`, [TYPE]);
    expect(committed).toHaveLength(ROUNDS * 3 * PER_COMMIT);

    // Back: the process reconnects, numbers what waited, and delivers.
    await expect
      .poll(() => Math.min(...endpoints.map(({ receiver }) => receiver.accepted().length)), { timeout: 120_000, interval: 200 })
      .toBe(committed.length)
      .catch(async (error: unknown) => {
        console.error(await diagnosis());
        throw error;
      });
    const numbered = await backends.sql<{ id: string }>(
      `select id from identity_events where type = $1 and position is not null order by position`,
      [TYPE],
    );
    expect(numbered).toHaveLength(committed.length);
    for (const { receiver } of endpoints) {
      // At least once (a repeat carries the same webhook-id, dropped by accepted()), in commit order, none lost.
      expect(receiver.accepted().map((entry) => entry.body.data.id)).toEqual(numbered.map((event) => event.id));
      expect(receiver.unverified).toBe(0);
    }
  }, 180_000);
});

/** Why events did not arrive: what each receiver took, what waits, the engine's jobs, the relaying process's last log lines. */
async function diagnosis(): Promise<string> {
  const unnumbered = await backends.sql('select count(*)::int as count from identity_events where position is null');
  const deliveries = await backends.sql('select endpoint_id, status, count(*)::int as count from webhook_deliveries group by 1, 2');
  const jobs = await backends.sql(
    `select name, state, singleton_key, start_after, started_on, now() from pgboss.job where state in ('created', 'retry', 'active')`,
  );
  return JSON.stringify({ unnumbered, deliveries, jobs, logs: relaying?.logs.slice(-20) }, null, 1);
}
