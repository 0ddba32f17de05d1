import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, type OperationDefinitionNode } from 'graphql';
import type { GatewayContext } from '../context.js';
import { answeredErrors, codeOf } from '../errors.js';
import { requestRecord, type Logger, type RequestRecord } from '../logger.js';

/** Probes come every few seconds from every load balancer: their lines would bury the requests. */
const PROBES = new Set(['/healthz', '/readyz']);
const MAX_PATH_LENGTH = 200;
/**
 * A GraphQL name has no length limit, and the body may be a megabyte: past this, the name is
 * cut, so that one request cannot write a megabyte into the info log.
 */
const MAX_OPERATION_LENGTH = 200;

/**
 * Fills the request's access line with what Apollo learns: the operation, the caller's user
 * id (the token's subject, never their email) and the codes of the errors answered.
 */
export function accessLogPlugin(): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ contextValue }) {
      const record = requestRecord();
      if (!record) return;
      if (contextValue.principal) record.callerId = contextValue.principal.userId;
      return {
        // Not the request's operationName as sent: only a name the document declares, or its
        // fields. Named here already, so that a document that fails validation is named too.
        async validationDidStart({ document, request }) {
          const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
          const chosen =
            operations.length === 1 ? operations[0] : operations.find((operation) => operation.name?.value === request.operationName);
          if (chosen) record.operation = cut(chosen.name?.value ?? rootFields(chosen));
        },
        // A document Apollo validated before (its cache) skips validation: named here.
        async didResolveOperation({ operation, operationName }) {
          const named = operationName ?? (operation && rootFields(operation));
          record.operation = named === undefined ? undefined : cut(named);
        },
        async willSendResponse({ response }) {
          const errors = answeredErrors(response.body);
          // The distinct codes, in the order they first appear.
          if (errors.length > 0) record.errorCodes = [...new Set(errors.map(codeOf))];
        },
      };
    },
  };
}

function cut(operation: string): string {
  return operation.length > MAX_OPERATION_LENGTH ? `${operation.slice(0, MAX_OPERATION_LENGTH)}…` : operation;
}

/** `{ me { id } users { … } }` logs as `me,users`. */
function rootFields(operation: OperationDefinitionNode): string {
  return operation.selectionSet.selections.map((selection) => (selection.kind === Kind.FIELD ? selection.name.value : '…')).join(',');
}

/**
 * The one line per request, written when its response is done (or the client went away):
 * enough to find a user's report ("request eco-prod-req-7 failed") and see what it was.
 * The path without its query string: a GET's variables may hold personal data.
 */
export function logAccess(log: Logger, request: IncomingMessage, response: ServerResponse, record: RequestRecord, startedAt: number) {
  const path = (request.url ?? '/').split('?', 1)[0]!.slice(0, MAX_PATH_LENGTH);
  const level = PROBES.has(path) ? 'debug' : 'info';
  // Below LOG_LEVEL the line is not built at all: pino would drop it after it was.
  if (!log.isLevelEnabled(level)) return;
  const line = {
    requestId: record.requestId,
    method: request.method,
    path,
    status: response.statusCode,
    operation: record.operation,
    callerId: record.callerId,
    errorCodes: record.errorCodes,
    durationMs: Math.round((performance.now() - startedAt) * 10) / 10,
    ...(!response.writableFinished && { aborted: true }),
  };
  log[level](line, 'request');
}
