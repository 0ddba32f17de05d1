import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server';
import { type DocumentNode, Kind, type SelectionSetNode } from 'graphql';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { answeredErrors, codeOf } from '../errors.js';
import type { AdminEventsRun } from '../jobs/admin-events.js';

/**
 * The gateway's Prometheus metrics (prom-client), one registry per gateway: tests run several
 * gateways in one process, and each must count only its own traffic. Everything the
 * operators' dashboards need is here, by family:
 *
 * - `iam_graphql_operation_duration_seconds{operation,type,outcome}`: each GraphQL operation,
 *   its latency and (as the histogram's `_count`) how many;
 * - `iam_keycloak_request_duration_seconds{family,status}`: every HTTP call to Keycloak;
 * - `iam_db_pool_connections{state}`: PostgreSQL connections in use, idle and awaited;
 * - `iam_rate_limit_refusals_total{operation}`;
 * - `iam_user_sync_pending`, `iam_user_sync_users_total{result}`, `iam_reconciler_drift_healed_total{kind}`,
 *   `iam_journal_pending_entries` and `iam_journal_oldest_pending_age_seconds`: the jobs;
 * - `iam_cache_lookups_total{cache,result}`: the verified-token and caller caches' hit rates;
 * - Node's own process metrics (`process_*`, `nodejs_*`).
 */
export interface Metrics {
  readonly registry: Registry;
  /** The Apollo plugin that times and counts every operation. */
  readonly graphqlPlugin: ApolloServerPlugin;
  cacheLookup(cache: 'verified_token' | 'caller', hit: boolean): void;
  /** What a user-sync run did: users synced, left pending, failed. */
  userSyncRun(run: { synced: number; pending: number; failed: number }): void;
  /** What a reconciler pass healed, by kind (users added, updated, removed, links, journal entries). */
  reconcilerRun(run: Record<string, number>): void;
  /** What a read of Keycloak's admin events did: events by outcome, and the mirror's changes they caused. */
  adminEventsRun(run: AdminEventsRun): void;
  /** One webhook delivery attempt; for a delivered one, how long after its event it arrived. */
  webhookAttempt(attempt: { delivered: boolean; lagSeconds?: number }): void;
  /** The Prometheus text of every metric. */
  render(): Promise<{ contentType: string; body: string }>;
  /** Stops listening to the process's outgoing HTTP calls. */
  close(): void;
}

export interface MetricsSources {
  /** Keycloak's base URL: calls to its origin are counted. */
  keycloakUrl: string;
  /** The connection pool's counts, read at each scrape. */
  pool(): Promise<{ total: number; idle: number; waiting: number }>;
  /** The jobs' backlog, read at each scrape: one cheap indexed query. */
  backlog(): Promise<{ usersWaitingForSync: number; pendingJournalEntries: number; oldestPendingAgeSeconds: number }>;
}

/**
 * Client-chosen operation names become label values, and every new value is a new series
 * held in memory until the process ends: past this many distinct names, the rest count as
 * `other`, so a client sending random names cannot grow the gateway's memory.
 */
const MAX_OPERATION_NAMES = 200;
/** A client-chosen operation name that looks like one: short, of GraphQL name characters. */
export const OPERATION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export function createMetrics(sources: MetricsSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const operations = new Histogram({
    name: 'iam_graphql_operation_duration_seconds',
    help: 'GraphQL operations by operation name, type (query, mutation) and outcome (OK or the first error code)',
    labelNames: ['operation', 'type', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const keycloakRequests = new Histogram({
    name: 'iam_keycloak_request_duration_seconds',
    help: 'HTTP calls to Keycloak by endpoint family and status (the HTTP status, or "error" when no answer came), until the answer headers',
    labelNames: ['family', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const rateLimitRefusals = new Counter({
    name: 'iam_rate_limit_refusals_total',
    help: 'Calls refused by a rate limit (RATE_LIMITED), by operation',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  // Two lookups a request: counted in plain numbers and handed to prom-client at each scrape,
  // which spares each lookup prom-client's label hashing and validation (measured by `npm run
  // bench`, workload 1). A series still appears with its first lookup.
  const unreported = { verified_token: { hit: 0, miss: 0 }, caller: { hit: 0, miss: 0 } };
  new Counter({
    name: 'iam_cache_lookups_total',
    help: 'Lookups in the verified-token and caller caches, by result (hit or miss)',
    labelNames: ['cache', 'result'] as const,
    registers: [registry],
    collect() {
      for (const cache of ['verified_token', 'caller'] as const) {
        for (const result of ['hit', 'miss'] as const) {
          const count = unreported[cache][result];
          if (count === 0) continue;
          this.inc({ cache, result }, count);
          unreported[cache][result] = 0;
        }
      }
    },
  });
  const userSyncUsers = new Counter({
    name: 'iam_user_sync_users_total',
    help: 'Users the sync job pushed to Keycloak (synced), left waiting for Keycloak (pending), or Keycloak refused (failed)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const webhookAttempts = new Counter({
    name: 'iam_webhook_attempts_total',
    help: 'Webhook delivery attempts, by result (delivered: a 2xx answer; failed: anything else, retried later)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const webhookLag = new Histogram({
    name: 'iam_webhook_delivery_lag_seconds',
    help: 'From an identity event to its delivery (a 2xx answer), retries included',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400],
    registers: [registry],
  });
  const reconcilerHealed = new Counter({
    name: 'iam_reconciler_drift_healed_total',
    help: 'Differences between Keycloak and the mirror the reconciler found and healed, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const adminEvents = new Counter({
    name: 'iam_admin_events_total',
    help: "Keycloak's admin events read, by outcome: applied (an outside change, compared with the mirror), echo (the gateway's own write), deferred (read again later)",
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const adminEventsHealed = new Counter({
    name: 'iam_admin_events_healed_total',
    help: "Changes to the mirror that Keycloak's admin events brought, by kind",
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'iam_db_pool_connections',
    help: 'PostgreSQL pool connections: in use, idle, and requests waiting for one',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = await sources.pool();
      this.set({ state: 'in_use' }, counts.total - counts.idle);
      this.set({ state: 'idle' }, counts.idle);
      this.set({ state: 'waiting' }, counts.waiting);
    },
  });
  // One query answers the three backlog gauges; each scrape runs it once.
  let backlog: ReturnType<MetricsSources['backlog']> | undefined;
  const backlogOnce = () => {
    backlog ??= sources.backlog().finally(() => {
      backlog = undefined;
    });
    return backlog;
  };
  new Gauge({
    name: 'iam_user_sync_pending',
    help: 'Users registered while Keycloak was unreachable, waiting for the sync job',
    registers: [registry],
    async collect() {
      this.set((await backlogOnce()).usersWaitingForSync);
    },
  });
  new Gauge({
    name: 'iam_journal_pending_entries',
    help: 'Journal entries still PENDING (writes under way, or interrupted and waiting for the reconciler)',
    registers: [registry],
    async collect() {
      this.set((await backlogOnce()).pendingJournalEntries);
    },
  });
  new Gauge({
    name: 'iam_journal_oldest_pending_age_seconds',
    help: 'Age of the oldest PENDING journal entry (0 when none): a value past the reconciler timeout means writes are stuck',
    registers: [registry],
    async collect() {
      this.set((await backlogOnce()).oldestPendingAgeSeconds);
    },
  });

  const stopWatchingKeycloak = watchKeycloakCalls(new URL(sources.keycloakUrl).origin, (family, status, seconds) =>
    keycloakRequests.observe({ family, status }, seconds),
  );

  const operationNames = new Set<string>();
  const operationLabel = (name: string | null | undefined): string => {
    if (!name) return 'anonymous';
    if (!OPERATION_NAME.test(name)) return 'other';
    if (operationNames.has(name)) return name;
    if (operationNames.size >= MAX_OPERATION_NAMES) return 'other';
    operationNames.add(name);
    return name;
  };

  const graphqlPlugin: ApolloServerPlugin = {
    async requestDidStart() {
      const started = process.hrtime.bigint();
      return {
        async willSendResponse(context: GraphQLRequestContext<object>) {
          const { response, operation, request, document } = context;
          const errors = answeredErrors(response.body);
          const codes = errors.map(codeOf);
          // An error's path starts with the response key, which an alias makes anything the
          // client likes: the label is the schema's field the key stands for.
          let fields: Map<string, string> | undefined;
          for (const [index, code] of codes.entries()) {
            if (code !== 'RATE_LIMITED') continue;
            fields ??= operation && document ? rootFieldsByKey(operation.selectionSet, document) : new Map<string, string>();
            const key = errors[index]?.path?.[0];
            rateLimitRefusals.inc({ operation: (typeof key === 'string' && fields.get(key)) || 'unknown' });
          }
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          operations.observe(
            {
              operation: operationLabel(operation?.name?.value ?? request.operationName),
              type: operation?.operation ?? 'unknown',
              outcome: codes[0] ?? 'OK',
            },
            seconds,
          );
        },
      };
    },
  };

  return {
    registry,
    graphqlPlugin,
    cacheLookup(cache, hit) {
      if (hit) unreported[cache].hit++;
      else unreported[cache].miss++;
    },
    userSyncRun(run) {
      userSyncUsers.inc({ result: 'synced' }, run.synced);
      userSyncUsers.inc({ result: 'pending' }, run.pending);
      userSyncUsers.inc({ result: 'failed' }, run.failed);
    },
    reconcilerRun(run) {
      for (const [kind, count] of Object.entries(run)) reconcilerHealed.inc({ kind }, count);
    },
    adminEventsRun(run) {
      adminEvents.inc({ outcome: 'applied' }, run.eventsApplied);
      adminEvents.inc({ outcome: 'echo' }, run.echoesSkipped);
      adminEvents.inc({ outcome: 'deferred' }, run.eventsDeferred);
      for (const kind of ['usersAdded', 'usersUpdated', 'usersRemoved', 'directorySyncs'] as const) {
        adminEventsHealed.inc({ kind }, run[kind]);
      }
    },
    webhookAttempt({ delivered, lagSeconds }) {
      webhookAttempts.inc({ result: delivered ? 'delivered' : 'failed' });
      if (delivered && lagSeconds !== undefined) webhookLag.observe(Math.max(0, lagSeconds));
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    close: stopWatchingKeycloak,
  };
}

/**
 * The root field each response key of `selections` names (`{ a1: login(...) }`: a1 → login),
 * through inline fragments and fragment spreads: names of a validated document, so of the
 * schema. Each fragment is walked once, as execution does: spreads nested in spreads would
 * otherwise cost exponential time.
 */
function rootFieldsByKey(
  selections: SelectionSetNode,
  document: DocumentNode,
  found = new Map<string, string>(),
  walked = new Set<string>(),
): Map<string, string> {
  for (const selection of selections.selections) {
    if (selection.kind === Kind.FIELD) found.set(selection.alias?.value ?? selection.name.value, selection.name.value);
    else if (selection.kind === Kind.INLINE_FRAGMENT) rootFieldsByKey(selection.selectionSet, document, found, walked);
    else if (!walked.has(selection.name.value)) {
      walked.add(selection.name.value);
      const fragment = document.definitions.find(
        (definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value,
      );
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) rootFieldsByKey(fragment.selectionSet, document, found, walked);
    }
  }
  return found;
}

/**
 * Keycloak's endpoint family of a path, a bounded set of label values: `token`, `certs`,
 * `logout`… under `/realms/<realm>/protocol/openid-connect/`, the first segment under
 * `/admin/realms/<realm>/` (`admin/users`, `admin/roles`, `admin/groups`, `admin/ui-ext`…),
 * `realm` for the realm's own document.
 */
export function keycloakFamily(path: string): string {
  const segments = path.split('?')[0]!.split('/').filter(Boolean);
  if (segments[0] === 'admin' && segments[1] === 'realms') return segments[3] ? `admin/${segments[3]}` : 'admin/realm';
  if (segments[0] === 'realms' && segments[2] === 'protocol') return segments[4] ?? 'protocol';
  if (segments[0] === 'realms') return segments.length === 2 ? 'realm' : (segments[2] ?? 'realm');
  return 'other';
}

interface UndiciRequest {
  origin?: string | URL;
  path: string;
}

/**
 * Every call to Keycloak, whichever code makes it (the admin client library, the token
 * endpoint, the key set, the sessions API): Node's fetch (undici) publishes each request on
 * these diagnostics channels, so no call site needs wrapping and none can be missed.
 */
function watchKeycloakCalls(keycloakOrigin: string, observe: (family: string, status: string, seconds: number) => void): () => void {
  const started = new WeakMap<UndiciRequest, bigint>();
  const isKeycloak = (request: UndiciRequest) => request.origin !== undefined && new URL(String(request.origin)).origin === keycloakOrigin;
  const finish = (request: UndiciRequest, status: string) => {
    const start = started.get(request);
    if (start === undefined) return;
    started.delete(request);
    observe(keycloakFamily(request.path), status, Number(process.hrtime.bigint() - start) / 1e9);
  };
  const onCreate = (message: unknown) => {
    const { request } = message as { request: UndiciRequest };
    if (isKeycloak(request)) started.set(request, process.hrtime.bigint());
  };
  const onHeaders = (message: unknown) => {
    const { request, response } = message as { request: UndiciRequest; response: { statusCode: number } };
    finish(request, String(response.statusCode));
  };
  const onError = (message: unknown) => finish((message as { request: UndiciRequest }).request, 'error');
  subscribe('undici:request:create', onCreate);
  subscribe('undici:request:headers', onHeaders);
  subscribe('undici:request:error', onError);
  return () => {
    unsubscribe('undici:request:create', onCreate);
    unsubscribe('undici:request:headers', onHeaders);
    unsubscribe('undici:request:error', onError);
  };
}
