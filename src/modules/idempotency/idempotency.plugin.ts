import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeaderMap, type ApolloServerPlugin, type GraphQLResponse } from '@apollo/server';
import type { EntityManager } from '@mikro-orm/postgresql';
import { print } from 'graphql';
import type { GatewayContext } from '../../context.js';
import { ERROR_STATUS, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { IdempotencyStore } from './idempotency.store.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Answers that say nothing was done: the key is released so that a retry runs again. */
const RETRYABLE_CODES = new Set<string>(['UPSTREAM_UNAVAILABLE', 'INTERNAL_SERVER_ERROR', 'RATE_LIMITED', 'UNAUTHENTICATED']);
const IN_PROGRESS_WAIT_MS = 10_000;
const IN_PROGRESS_POLL_MS = 100;

/**
 * Mutations sent with an `Idempotency-Key` header: the first request with a key runs and
 * its answer is kept (in PostgreSQL, for `ttlSeconds`); a repeat by the same caller of
 * the same request (operation, operation name, variables) gets that answer again without
 * running anything, and the same key with another request answers CONFLICT. Queries
 * ignore the header: they write nothing.
 */
export function idempotencyPlugin(deps: { em: EntityManager; ttlSeconds: number; log: Logger }): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ request }) {
      const key = request.http?.headers.get(IDEMPOTENCY_HEADER)?.trim();
      if (!key) return;
      let owned: { store: IdempotencyStore; caller: string } | undefined;
      return {
        async responseForOperation(context) {
          if (context.operation.operation !== 'mutation') return null;
          if (key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
            return errorResponse('BAD_USER_INPUT', 'The Idempotency-Key header must be 1 to 255 visible ASCII characters');
          }
          const caller = context.contextValue.principal?.userId ?? 'anonymous';
          const hash = requestHash(context.operationName, print(context.document), context.request.variables ?? {});
          const store = new IdempotencyStore(deps.em.fork(), deps.ttlSeconds);
          const deadline = Date.now() + IN_PROGRESS_WAIT_MS;
          for (;;) {
            const claim = await store.claim(caller, key, hash);
            switch (claim.kind) {
              case 'claimed':
                owned = { store, caller };
                return null;
              case 'different-request':
                return errorResponse('CONFLICT', 'This Idempotency-Key was already used for a different request');
              case 'done':
                return { http: { status: undefined, headers: new HeaderMap([['idempotent-replayed', 'true']]) }, body: { kind: 'single', singleResult: claim.response } };
              case 'in-progress':
                // The same request is running elsewhere: its answer is ours too, once it has one.
                if (Date.now() >= deadline) {
                  return errorResponse('CONFLICT', 'A request with this Idempotency-Key is still in progress; retry later');
                }
                await sleep(IN_PROGRESS_POLL_MS);
            }
          }
        },
        async willSendResponse(context) {
          if (!owned) return;
          const { store, caller } = owned;
          const body = context.response.body;
          try {
            const result = body.kind === 'single' ? body.singleResult : undefined;
            const retryable = !result || (result.errors ?? []).some((error) => RETRYABLE_CODES.has(String(error.extensions?.code)));
            if (retryable) await store.release(caller, key);
            else await store.complete(caller, key, { ...result });
          } catch (error) {
            deps.log.error({ err: error }, 'could not record the answer to an idempotent request');
          }
        },
      };
    },
  };
}

/** The request as the key names it: sha256 of the printed operation, its name and its variables (keys sorted). */
export function requestHash(operationName: string | null, document: string, variables: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify([operationName ?? null, document, canonical(variables)])).digest('hex');
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

function errorResponse(code: ErrorCode, message: string): GraphQLResponse {
  return {
    http: { status: undefined, headers: new HeaderMap() },
    body: {
      kind: 'single',
      singleResult: { errors: [{ message, extensions: { code, status: ERROR_STATUS[code], timestamp: new Date().toISOString() } }] },
    },
  };
}
