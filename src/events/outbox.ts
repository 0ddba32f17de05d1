import type { EntityManager } from '@mikro-orm/postgresql';
import { listenToChannel } from '../db/channel-listener.js';
import { AppError } from '../errors.js';
import type { JobEngine } from '../jobs/job-engine.js';
import type { Logger } from '../logger.js';

/**
 * Identity events: the transactional outbox.
 *
 * Writing. Triggers on the mirror tables (src/db/migrations/Migration20261204230000.ts)
 * insert an event in the same transaction as every change of a user, a user's roles or
 * groups, a role, a group or its members, a tenant, a membership or an invitation, with the
 * subject's state before and after (named columns only: no secret). Whoever writes the
 * mirror needs no call of its own; what it says is who it is, with `setEventOrigin` in its
 * transaction (the journal does it for every mutation). A change made without it is the
 * mirror catching up with Keycloak (the reconciler, the directory sync): KEYCLOAK. A change
 * the mirror does not hold (sessions ended) is written with `recordEvent`.
 *
 * Ordering. An event's `position` is null when it commits; the relay (`relayEvents`, one at
 * a time across processes under an advisory lock) numbers the committed ones in the order
 * it sees them and NOTIFYs `identity_events`. A transaction that inserted earlier but
 * committed later is numbered later, so a consumer that read up to position P and resumes
 * after P never skips an event: positions are commit order, not insert order.
 *
 * Reading. Consumers (the events query, subscriptions, webhook delivery) read with
 * `eventsAfter(position, limit, filter)` from where they stopped, and wake on
 * `IDENTITY_EVENTS_CHANNEL` (src/db/channel-listener.ts) or poll.
 */

export const EVENT_ORIGINS = ['GATEWAY', 'KEYCLOAK', 'SYNC'] as const;
export type EventOrigin = (typeof EVENT_ORIGINS)[number];

/** Every type the outbox writes. */
export const IDENTITY_EVENT_TYPES = [
  'USER_CREATED',
  'USER_UPDATED',
  'USER_DELETED',
  'USER_ROLES_CHANGED',
  'USER_GROUPS_CHANGED',
  'USER_SESSIONS_ENDED',
  'ROLE_CREATED',
  'ROLE_UPDATED',
  'ROLE_DELETED',
  'GROUP_CREATED',
  'GROUP_UPDATED',
  'GROUP_DELETED',
  'GROUP_MEMBERS_CHANGED',
  'TENANT_CREATED',
  'TENANT_UPDATED',
  'TENANT_DELETED',
  'MEMBERSHIP_CREATED',
  'MEMBERSHIP_UPDATED',
  'MEMBERSHIP_DELETED',
  'INVITATION_CREATED',
  'INVITATION_UPDATED',
  'INVITATION_ACCEPTED',
  'INVITATION_REVOKED',
  'INVITATION_DELETED',
] as const;
export type IdentityEventType = (typeof IDENTITY_EVENT_TYPES)[number];

/** Where consumers are told that events got positions: the payload is the last position. */
export const IDENTITY_EVENTS_CHANNEL = 'identity_events';
/** Where committing transactions tell the relay that events wait for a position. */
export const PENDING_EVENTS_CHANNEL = 'identity_events_pending';

/** One committed, numbered identity event. */
export interface IdentityEventRow {
  id: string;
  /** Its place in commit order: the cursor consumers resume from. */
  position: number;
  type: string;
  occurredAt: Date;
  origin: EventOrigin;
  actorId: string | null;
  /** User, Role, Group, Tenant, Membership, Invitation. */
  subjectType: string;
  /** The subject's id; a membership's is its user's (with the tenant in tenantId). */
  subjectId: string;
  tenantId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface EventFilter {
  types?: readonly string[] | null;
  subjectId?: string | null;
  tenantId?: string | null;
  origin?: EventOrigin | null;
}

/**
 * Names who makes the changes of the current transaction, for the events its triggers write.
 * Transaction-local (`set_config(..., true)`): must run inside the transaction, and ends with it.
 */
export async function setEventOrigin(em: EntityManager, origin: EventOrigin, actorId: string | null): Promise<void> {
  await em.execute(`select set_config('iam.event_origin', ?, true), set_config('iam.event_actor', ?, true)`, [origin, actorId ?? '']);
}

/** An event of a change the mirror does not hold (for example USER_SESSIONS_ENDED). */
export interface RecordedEvent {
  type: IdentityEventType;
  subjectType: string;
  subjectId: string;
  tenantId?: string | null;
  before?: Record<string, unknown> | null;
  after?: Record<string, unknown> | null;
}

/**
 * Writes an event inside the caller's transaction (`em` is the transaction's); its origin and
 * actor are the transaction's (setEventOrigin). Never put secrets in before or after.
 */
export async function recordEvent(em: EntityManager, event: RecordedEvent): Promise<void> {
  await em.execute(
    `insert into identity_events (tx_id, aspect, subject_key, type, occurred_at, origin, actor_id, subject_type, subject_id, tenant_id, before, after)
     values (pg_current_xact_id()::text::bigint, 'event', gen_random_uuid()::text, ?, statement_timestamp(),
       coalesce(nullif(current_setting('iam.event_origin', true), ''), 'KEYCLOAK'),
       nullif(current_setting('iam.event_actor', true), '')::uuid, ?, ?, ?, ?, ?)`,
    [
      event.type,
      event.subjectType,
      event.subjectId,
      event.tenantId ?? null,
      event.before ? JSON.stringify(event.before) : null,
      event.after ? JSON.stringify(event.after) : null,
    ],
  );
}

/** The advisory lock under which one relay at a time, in any process, numbers events. */
const RELAY_LOCK = 'iam-gateway:identity-events-relay';
const RELAY_BATCH = 1000;
/** How long stopping waits for a run under way. */
const STOP_WAIT_MS = 10_000;

/**
 * Numbers the committed events that have no position yet, in the order they were inserted
 * among those this transaction sees, after every position given before: the relays of all
 * processes take turns under an advisory lock held to their commit, so a position once
 * visible is never followed by a smaller one. Answers the last position given, or null when
 * there was nothing to number. Notifies IDENTITY_EVENTS_CHANNEL when it numbered some.
 * `waitForTurn: false` returns at once while another relay runs: that one was woken by the
 * same notifications and runs again after what it has under way.
 */
export async function relayEvents(em: EntityManager, options: { batchSize?: number; waitForTurn?: boolean } = {}): Promise<number | null> {
  const { batchSize = RELAY_BATCH, waitForTurn = true } = options;
  let last: number | null = null;
  for (;;) {
    const numbered = await em.fork().transactional(async (tx) => {
      if (waitForTurn) {
        await tx.execute('select pg_advisory_xact_lock(hashtext(?))', [RELAY_LOCK]);
      } else {
        const [turn] = await tx.execute<{ taken: boolean }[]>('select pg_try_advisory_xact_lock(hashtext(?)) as taken', [RELAY_LOCK]);
        if (!turn?.taken) return { count: 0, last: null };
      }
      const [row] = await tx.execute<{ last: string | null; count: string }[]>(
        `with top as (select coalesce(max(position), 0) as p from identity_events),
              batch as (
                select id, row_number() over (order by seq) as n from identity_events
                where position is null and type is not null order by seq limit ?),
              numbered as (
                update identity_events e set position = top.p + batch.n from batch, top where e.id = batch.id returning e.position)
         select max(position)::text as last, count(*)::text as count from numbered`,
        [batchSize],
      );
      const count = Number(row?.count ?? 0);
      if (count > 0) await tx.execute('select pg_notify(?, ?)', [IDENTITY_EVENTS_CHANNEL, row!.last]);
      return { count, last: row?.last ? Number(row.last) : null };
    });
    if (numbered.last !== null) last = numbered.last;
    if (numbered.count < batchSize) return last;
  }
}

interface EventRecord {
  id: string;
  position: string;
  type: string;
  occurred_at: Date;
  origin: EventOrigin;
  actor_id: string | null;
  subject_type: string;
  subject_id: string;
  tenant_id: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

const EVENT_COLUMNS = 'id, position, type, occurred_at, origin, actor_id, subject_type, subject_id, tenant_id, before, after';

function toRow(record: EventRecord): IdentityEventRow {
  return {
    id: record.id,
    position: Number(record.position),
    type: record.type,
    occurredAt: new Date(record.occurred_at),
    origin: record.origin,
    actorId: record.actor_id,
    subjectType: record.subject_type,
    subjectId: record.subject_id,
    tenantId: record.tenant_id,
    before: record.before,
    after: record.after,
  };
}

/**
 * Up to `limit` numbered events after `position` (0: from the first), in commit order,
 * matching `filter`. Consumers resume from the last position they handled.
 */
export async function eventsAfter(
  em: EntityManager,
  position: number,
  limit: number,
  filter: EventFilter = {},
): Promise<IdentityEventRow[]> {
  const where = filterClauses(filter, ['position > ?'], [position]);
  const records = await em
    .getConnection()
    .execute<EventRecord[]>(`select ${EVENT_COLUMNS} from identity_events where ${where.sql} order by position limit ?`, [
      ...where.params,
      limit,
    ]);
  return records.map(toRow);
}

/**
 * Up to `limit` numbered events before `position` (null: the newest), in commit order,
 * matching `filter`: the newest page, and the pages before it, read backward.
 */
export async function eventsBefore(
  em: EntityManager,
  position: number | null,
  limit: number,
  filter: EventFilter = {},
): Promise<IdentityEventRow[]> {
  const where = filterClauses(filter, position === null ? ['position is not null'] : ['position < ?'], position === null ? [] : [position]);
  const records = await em
    .getConnection()
    .execute<EventRecord[]>(`select ${EVENT_COLUMNS} from identity_events where ${where.sql} order by position desc limit ?`, [
      ...where.params,
      limit,
    ]);
  return records.map(toRow).reverse();
}

/** Whether any numbered event matching `filter` lies at or before `position` (a page's hasPreviousPage). */
export async function eventsAtOrBefore(em: EntityManager, position: number, filter: EventFilter = {}): Promise<boolean> {
  const where = filterClauses(filter, ['position <= ?'], [position]);
  const rows = await em.getConnection().execute(`select 1 from identity_events where ${where.sql} limit 1`, where.params);
  return rows.length > 0;
}

/** Numbered events by id (node lookups); an event waiting for its number is not visible yet. */
export async function eventsByIds(em: EntityManager, ids: readonly string[]): Promise<IdentityEventRow[]> {
  if (ids.length === 0) return [];
  const records = await em
    .getConnection()
    .execute<EventRecord[]>(`select ${EVENT_COLUMNS} from identity_events where id in (?) and position is not null`, [[...ids]]);
  return records.map(toRow);
}

function filterClauses(filter: EventFilter, clauses: string[], params: unknown[]): { sql: string; params: unknown[] } {
  const conditions: [string, unknown][] = [
    ['subject_id = ?', filter.subjectId],
    ['tenant_id = ?', filter.tenantId],
    ['origin = ?', filter.origin],
  ];
  if (filter.types && filter.types.length > 0) conditions.push(['type in (?)', [...filter.types]]);
  for (const [clause, value] of conditions) {
    if (value == null || value === '') continue;
    clauses.push(clause);
    params.push(value);
  }
  return { sql: clauses.join(' and '), params };
}

/** The last position given so far (0 when none): where a consumer that wants only new events starts. */
export async function lastEventPosition(em: EntityManager): Promise<number> {
  const [row] = await em
    .getConnection()
    .execute<{ last: string }[]>('select coalesce(max(position), 0)::text as last from identity_events');
  return Number(row?.last ?? 0);
}

const CURSOR_LIST = 'IdentityEvent';

/** A consumer's place in the stream, as the events query hands it out. */
export function encodeEventCursor(position: number): string {
  return Buffer.from(JSON.stringify([CURSOR_LIST, position])).toString('base64url');
}

/** The position a cursor of encodeEventCursor names; BAD_USER_INPUT for anything else. */
export function decodeEventCursor(cursor: string, name = 'after'): number {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parts) && parts.length === 2 && parts[0] === CURSOR_LIST) {
      const position = parts[1];
      if (typeof position === 'number' && Number.isSafeInteger(position) && position >= 0) return position;
    }
  } catch {
    // Reported below.
  }
  throw new AppError('BAD_USER_INPUT', `${name} is not a cursor this list returned`, { fieldErrors: { [name]: 'invalid cursor' } });
}

export interface OutboxRelay {
  /** Numbers what is committed now (also what the loop does on each wake). */
  relayNow(): Promise<number | null>;
  stop(): Promise<void>;
}

/** The job engine's queue of the relay's sweep. */
const SWEEP_QUEUE = 'outbox-sweep';

/**
 * Runs the relay in this process on every commit that wrote events (NOTIFY on
 * PENDING_EVENTS_CHANNEL: the fast path, no queue between a commit and its subscribers).
 * Any number of processes may run it; they take turns. In case a notification was missed
 * (a lost listening connection, a relay cut before it committed), a sweep runs every
 * `sweepSeconds` as a job of the engine: one run at a time across the fleet, in whichever
 * process runs jobs. `onRelayed` is told the last position after each run that numbered
 * events (webhook delivery is woken from there).
 */
export function startOutboxRelay(deps: {
  em: EntityManager;
  databaseUrl: string;
  log: Logger;
  engine?: JobEngine;
  sweepSeconds?: number;
  onRelayed?: (last: number) => void;
}): OutboxRelay {
  const log = deps.log.child({ component: 'outbox-relay' });
  let running: Promise<number | null> | undefined;
  let again = false;
  let stopped = false;

  const relayNow = (): Promise<number | null> => {
    if (running) {
      // A wake during a run: one more run after it sees what committed meanwhile.
      again = true;
      return running;
    }
    // Background runs skip their turn while another process relays: every process hears each commit.
    running = relayEvents(deps.em, { waitForTurn: false })
      .then((last) => {
        if (last !== null) deps.onRelayed?.(last);
        return last;
      })
      .catch((error: unknown) => {
        if (!stopped) log.warn({ err: error }, 'outbox relay run failed; the next wake or sweep tries again');
        return null;
      })
      .finally(() => {
        running = undefined;
        if (again && !stopped) {
          again = false;
          void relayNow();
        }
      });
    return running;
  };

  const listener = listenToChannel({
    databaseUrl: deps.databaseUrl,
    channel: PENDING_EVENTS_CHANNEL,
    onMessage: () => void relayNow(),
    onListening: (listening) => {
      if (listening) void relayNow();
    },
    log,
  });
  const sweepSeconds = deps.sweepSeconds ?? 5;
  deps.engine?.periodic(SWEEP_QUEUE, { intervalSeconds: sweepSeconds, firstDelaySeconds: sweepSeconds }, () => relayNow());

  return {
    relayNow,
    /**
     * Stops waking the relay, and lets a run under way finish before the database closes:
     * closing the pool under its transaction left that connection held for good, and the
     * gateway's stop waiting for it (a gateway stopped as it started hung). Bounded, for a
     * connection that died mid-run; what a run leaves unnumbered the next relay anywhere numbers.
     */
    async stop() {
      stopped = true;
      await deps.engine?.offWork(SWEEP_QUEUE);
      await listener.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([running, new Promise((resolve) => (timer = setTimeout(resolve, STOP_WAIT_MS)))]);
      clearTimeout(timer);
    },
  };
}
