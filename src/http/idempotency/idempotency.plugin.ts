import { createHmac, hkdfSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeaderMap, type ApolloServerPlugin, type GraphQLResponse } from '@apollo/server';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Kind, print, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { GatewayContext } from '../../context.js';
import { ERROR_STATUS, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { IdempotencyStore } from './idempotency.store.js';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Answers that say nothing was done: the key is released so that a retry runs again. */
const RETRYABLE_CODES = new Set<string>(['UPSTREAM_UNAVAILABLE', 'INTERNAL_SERVER_ERROR', 'RATE_LIMITED', 'UNAUTHENTICATED']);
const IN_PROGRESS_WAIT_MS = 10_000;

/**
 * Mutations that refuse an Idempotency-Key (BAD_USER_INPUT), because keeping their answer
 * for a repeat would keep a secret at rest, or replaying it would hand one out again (M1):
 * - login, signup, refreshToken: the answer holds access and refresh tokens; a repeat opens
 *   a new session, which is what a client retrying wants anyway.
 * - createInvitation: the answer holds the invitation's secret (PostgreSQL keeps only its hash).
 * - acceptInvitation: its input is that secret; it works once by itself, and its answer must
 *   not go to whoever repeats the key.
 * - logout: its input is a refresh token, and ending an ended session already answers the same.
 * - createWebhookEndpoint, rotateWebhookSecret: the answer holds a webhook signing secret
 *   (PostgreSQL keeps it only encrypted); updateWebhookEndpoint answers the same payload type
 *   (its secret always null), and setting the same fields twice changes nothing anyway.
 * A test walks the schema: a mutation whose answer can reach a token fails it unless listed.
 */
export const NOT_REPLAYABLE: ReadonlySet<string> = new Set([
  'login',
  'signup',
  'refreshToken',
  'createInvitation',
  'acceptInvitation',
  'logout',
  'createWebhookEndpoint',
  'updateWebhookEndpoint',
  'rotateWebhookSecret',
]);
const IN_PROGRESS_POLL_MS = 100;

/**
 * Mutations sent with an `Idempotency-Key` header: the first request with a key runs and
 * its answer is kept (in PostgreSQL, for `ttlSeconds`); a repeat by the same caller of
 * the same request (operation, operation name, variables) gets that answer again without
 * running anything, and the same key with another request answers CONFLICT. Queries
 * ignore the header: they write nothing.
 */
export function idempotencyPlugin(deps: {
  em: EntityManager;
  ttlSeconds: number;
  /** Keys the hash of each request: without it, a stored hash would let anyone try passwords against it. */
  secret: string;
  log: Logger;
}): ApolloServerPlugin<GatewayContext> {
  const hashKey = Buffer.from(hkdfSync('sha256', deps.secret, '', 'iam-gateway idempotency request hash', 32));
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
          // Keys are scoped per caller. Anonymously there is nothing to scope them by that a
          // client could not share, and nothing to gain: every public mutation is either
          // NOT_REPLAYABLE or answers the same whatever happened (resetPassword).
          if (!context.contextValue.principal) {
            return errorResponse(
              'BAD_USER_INPUT',
              'An Idempotency-Key needs a signed-in caller: send the access token, or leave the header out',
            );
          }
          // The caller as the gateway admits them now (src/admission.ts), not as their token
          // says: a stored answer is replayed without running anything, so without this a
          // disabled or deleted account's token would still be answered. A token not admitted
          // runs as any other call of theirs, and the permission table refuses it.
          const caller = await context.contextValue.caller().then(
            ({ principal }) => principal.userId,
            () => undefined,
          );
          if (!caller) return null;
          const refused = rootFields(context.operation, context.document).filter((field) => NOT_REPLAYABLE.has(field));
          if (refused.length > 0) {
            return errorResponse(
              'BAD_USER_INPUT',
              `${[...new Set(refused)].join(', ')} cannot be sent with an Idempotency-Key: the answer is never stored`,
            );
          }
          const hash = requestHash(hashKey, context.operationName, print(context.document), context.request.variables ?? {});
          if (hash === null) {
            return errorResponse('BAD_USER_INPUT', `Variables nest deeper than ${MAX_VARIABLE_DEPTH} levels: no input of this API does`);
          }
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
                return {
                  http: { status: undefined, headers: new HeaderMap([['idempotent-replayed', 'true']]) },
                  body: { kind: 'single', singleResult: claim.response },
                };
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

/**
 * The request as the key names it: HMAC-SHA256 of the printed operation, its name and its
 * variables (keys sorted), keyed by a secret every gateway process shares and PostgreSQL
 * does not hold, since variables may hold a password (createUser, setUserPassword).
 */
export function requestHash(
  key: Buffer,
  operationName: string | null,
  document: string,
  variables: Record<string, unknown>,
): string | null {
  const sorted = canonical(variables, 0);
  if (sorted === TOO_DEEP) return null;
  return createHmac('sha256', key)
    .update(JSON.stringify([operationName ?? null, document, sorted]))
    .digest('hex');
}

/** The root fields an operation selects, through its fragments. */
function rootFields(operation: OperationDefinitionNode, document: DocumentNode): string[] {
  const fragments = new Map(
    document.definitions
      .filter((node): node is FragmentDefinitionNode => node.kind === Kind.FRAGMENT_DEFINITION)
      .map((node) => [node.name.value, node]),
  );
  // Validation refused fragment cycles before this runs.
  const fieldsOf = ({ selections }: SelectionSetNode): string[] =>
    selections.flatMap((selection) => {
      if (selection.kind === Kind.FIELD) return [selection.name.value];
      if (selection.kind === Kind.INLINE_FRAGMENT) return fieldsOf(selection.selectionSet);
      const fragment = fragments.get(selection.name.value);
      return fragment ? fieldsOf(fragment.selectionSet) : [];
    });
  return fieldsOf(operation.selectionSet);
}

/**
 * Far deeper than any input of the schema. The variables hashed are the raw JSON of the body,
 * before GraphQL coerces (or ignores) them: a body under 1 MiB nests half a million levels,
 * which JSON.parse takes and a recursive walk overflows the stack on (an INTERNAL_SERVER_ERROR
 * any signed-in caller could cause at will).
 */
const MAX_VARIABLE_DEPTH = 64;
const TOO_DEEP = Symbol('too deep');

function canonical(value: unknown, depth: number): unknown {
  if (depth > MAX_VARIABLE_DEPTH) return TOO_DEEP;
  if (Array.isArray(value)) {
    const items = value.map((item) => canonical(item, depth + 1));
    return items.includes(TOO_DEEP) ? TOO_DEEP : items;
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => [k, canonical(v, depth + 1)] as const);
    return entries.some(([, v]) => v === TOO_DEEP) ? TOO_DEEP : Object.fromEntries(entries);
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
