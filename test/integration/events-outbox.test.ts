import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsAfter, lastEventPosition, recordEvent, relayEvents, setEventOrigin } from '../../src/events/outbox.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

// The outbox at the PostgreSQL level: mirror rows written over connections of the test's
// own, as any writer of the mirror would, and the relay and reader of src/events/outbox.ts.
let gateway: TestGateway;
const clients: pg.Client[] = [];
beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.end()));
  await gateway?.close();
});

async function connection(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: gateway.app.config.databaseUrl });
  await client.connect();
  clients.push(client);
  return client;
}

const em = () => gateway.app.orm.em.fork();
const groupEvents = async (after: number, ids: string[]) =>
  (await eventsAfter(em(), after, 200, { types: ['GROUP_CREATED', 'GROUP_UPDATED', 'GROUP_DELETED'] })).filter((event) =>
    ids.includes(event.subjectId),
  );

describe('identity events outbox', () => {
  it('numbers events in commit order: a poller that read past a later insert still gets the earlier one committed after it', async () => {
    const [early, late] = [await connection(), await connection()];
    const [earlyId, lateId] = [randomUUID(), randomUUID()];
    const start = await lastEventPosition(em());

    // The earlier insert, in a transaction still open.
    await early.query('begin');
    await early.query('insert into groups (id, name) values ($1, $2)', [earlyId, `early-${earlyId}`]);
    // The later insert commits first.
    await late.query('insert into groups (id, name) values ($1, $2)', [lateId, `late-${lateId}`]);
    await relayEvents(em());

    // A poller reads up to the end of what is numbered: the later group only.
    const firstRead = await groupEvents(start, [earlyId, lateId]);
    expect(firstRead.map((event) => event.subjectId)).toEqual([lateId]);
    const cursor = await lastEventPosition(em());

    await early.query('commit');
    await relayEvents(em());

    // Resuming after its cursor, it gets the earlier insert: nothing skipped.
    const secondRead = await groupEvents(cursor, [earlyId, lateId]);
    expect(secondRead.map((event) => ({ type: event.type, subjectId: event.subjectId }))).toEqual([
      { type: 'GROUP_CREATED', subjectId: earlyId },
    ]);
    expect(secondRead[0]!.position).toBeGreaterThan(firstRead[0]!.position);
  });

  it('writes one event per subject and transaction, with the state before and after, and none for a change undone', async () => {
    const client = await connection();
    const id = randomUUID();
    const start = await lastEventPosition(em());
    await client.query('insert into groups (id, name) values ($1, $2)', [id, `first-${id}`]);
    await client.query('begin');
    await client.query('update groups set name = $2 where id = $1', [id, `second-${id}`]);
    await client.query('update groups set name = $2 where id = $1', [id, `third-${id}`]);
    await client.query('commit');
    // A rewrite of what is there already (as the reconciler does) changes nothing: no event.
    await client.query('update groups set name = name where id = $1', [id]);
    await client.query('begin');
    await client.query('update groups set name = $2 where id = $1', [id, `fourth-${id}`]);
    await client.query('rollback');
    await client.query('delete from groups where id = $1', [id]);
    await relayEvents(em());

    const events = await groupEvents(start, [id]);
    expect(events.map(({ type, origin, before, after }) => ({ type, origin, before, after }))).toEqual([
      { type: 'GROUP_CREATED', origin: 'KEYCLOAK', before: null, after: { id, name: `first-${id}`, parentId: null, roleIds: [] } },
      {
        type: 'GROUP_UPDATED',
        origin: 'KEYCLOAK',
        before: { id, name: `first-${id}`, parentId: null, roleIds: [] },
        after: { id, name: `third-${id}`, parentId: null, roleIds: [] },
      },
      { type: 'GROUP_DELETED', origin: 'KEYCLOAK', before: { id, name: `third-${id}`, parentId: null, roleIds: [] }, after: null },
    ]);
    const positions = events.map((event) => event.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it('takes its origin and actor from the transaction that made the change', async () => {
    const id = randomUUID();
    const actor = randomUUID();
    const start = await lastEventPosition(em());
    await em().transactional(async (tx) => {
      await setEventOrigin(tx, 'SYNC', actor);
      await tx.execute('insert into groups (id, name) values (?, ?)', [id, `synced-${id}`]);
    });
    // The setting ended with its transaction.
    await em().execute('delete from groups where id = ?', [id]);
    await relayEvents(em());
    const events = await groupEvents(start, [id]);
    expect(events.map(({ type, origin, actorId }) => ({ type, origin, actorId }))).toEqual([
      { type: 'GROUP_CREATED', origin: 'SYNC', actorId: actor },
      { type: 'GROUP_DELETED', origin: 'KEYCLOAK', actorId: null },
    ]);
  });

  it('records an event of a change the mirror does not hold, with its transaction: none when it rolls back', async () => {
    const [kept, undone]: string[] = [randomUUID(), randomUUID()];
    const actor = randomUUID();
    const start = await lastEventPosition(em());
    await em().transactional(async (tx) => {
      await setEventOrigin(tx, 'GATEWAY', actor);
      await recordEvent(tx, { type: 'USER_SESSIONS_ENDED', subjectType: 'User', subjectId: kept, after: { sessionsEnded: 2 } });
    });
    await expect(
      em().transactional(async (tx) => {
        await recordEvent(tx, { type: 'USER_SESSIONS_ENDED', subjectType: 'User', subjectId: undone });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    await relayEvents(em());
    const events = (await eventsAfter(em(), start, 200, { types: ['USER_SESSIONS_ENDED'] })).filter((event) =>
      [kept, undone].includes(event.subjectId),
    );
    expect(events.map(({ subjectId, origin, actorId, before, after }) => ({ subjectId, origin, actorId, before, after }))).toEqual([
      { subjectId: kept, origin: 'GATEWAY', actorId: actor, before: null, after: { sessionsEnded: 2 } },
    ]);
  });
});
