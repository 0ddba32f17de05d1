import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import type { ApolloServerPlugin, GraphQLResponse } from '@apollo/server';
import { unwrapResolverError } from '@apollo/server/errors';

/** The error codes of the public contract, with their HTTP-like statuses. */
export const ERROR_STATUS = {
  BAD_USER_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  RATE_LIMITED: 429,
  INTERNAL_SERVER_ERROR: 500,
  UPSTREAM_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export type FieldErrors = Record<string, string>;

/**
 * A failure the caller can act on. Services throw these; `formatError` is the one
 * place they become GraphQL errors. Anything else reaching the edge is a bug: it is
 * logged and masked.
 */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: { fieldErrors?: FieldErrors; retryAfterSeconds?: number } = {},
  ) {
    super(message);
  }
}

/** The errors an answer carries, whatever its kind: what the access line, the metrics and the traces report. */
export function answeredErrors(body: GraphQLResponse['body'] | undefined): readonly GraphQLFormattedError[] {
  if (!body) return [];
  return (body.kind === 'single' ? body.singleResult.errors : body.initialResult.errors) ?? [];
}

/** An answered error's code: the one the formatter gave it, INTERNAL_SERVER_ERROR for one without. */
export function codeOf(error: GraphQLFormattedError): string {
  const code = error.extensions?.code;
  return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
}

export const unauthenticated = () => new AppError('UNAUTHENTICATED', 'Authentication required: send a valid access token');
export const forbidden = () => new AppError('FORBIDDEN', 'You are not allowed to do this');

// Apollo's own codes for requests that never reached a resolver.
const REQUEST_ERROR_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/**
 * Refusals of the request itself that carry no code: a GraphQLError that wraps nothing
 * thrown and belongs to no field, raised before any resolver ran. Apollo's for a persisted
 * query whose hash does not match its text; graphql-js's "Too many errors processing
 * variables" past 50 invalid values. An error of a field (it has a path) stays a server error.
 */
function isUncodedRequestError(error: unknown): boolean {
  return error instanceof GraphQLError && !error.originalError && !error.path;
}

/**
 * The longest message an error carries. graphql-js quotes a variable's value when it cannot
 * coerce it, and an answer must not grow with what was sent.
 */
export const MAX_MESSAGE_LENGTH = 1000;

function bounded(message: string): string {
  return message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : message;
}

/**
 * graphql-js prints a variable it cannot coerce into its message: `Variable "$input" got
 * invalid value { username: …, password: "…", extra: 1 } at "input.x"; <reason>`, the
 * whole input when one field is unknown. A password or refresh token sent with a typo
 * would come back in the error, to whatever logs the client's errors. So the message keeps
 * the variable's name, the path and a reason, never the value (parsed from both ends:
 * the value is the caller's text and may hold anything, "; " included).
 */
export function withoutVariableValue(message: string): string {
  const head = /^Variable "\$([_A-Za-z][_0-9A-Za-z]*)" got invalid value /.exec(message);
  const split = message.lastIndexOf('; ');
  if (!head || split < head[0].length) return message;
  const at = / at "([_0-9A-Za-z.[\]]+)"$/.exec(message.slice(0, split))?.[1];
  return `Variable "$${head[1]}" got an invalid value${at ? ` at "${at}"` : ''}; ${valueFreeReason(message.slice(split + 2))}`;
}

const NAME = '[_A-Za-z][_0-9A-Za-z]*';
const TYPE = '[_A-Za-z0-9!\\[\\]]+';
const SUGGESTION = `(?: Did you mean [^"]*"${NAME}"(?:[^"]*"${NAME}")*\\?)?`;
/** graphql-js's reasons that name only the schema's types and fields (and an unknown field's name), never the value. */
const VALUE_FREE_REASONS = [
  new RegExp(`^Expected non-nullable type "${TYPE}" not to be null\\.$`),
  new RegExp(`^Field "${NAME}" of required type "${TYPE}" was not provided\\.$`),
  new RegExp(`^Field "${NAME}" is not defined by type "${NAME}"\\.${SUGGESTION}$`),
  new RegExp(`^Expected type "${NAME}" to be an object\\.$`),
];
/** Where the other reasons name the type they could not coerce to. */
const TYPE_IN_REASON = [
  new RegExp(`^Expected type "(${NAME})"`),
  new RegExp(`^(${NAME}) cannot represent`),
  new RegExp(`^Enum "(${NAME})" cannot represent`),
  new RegExp(`^Value "[\\s\\S]*" does not exist in "(${NAME})" enum\\.${SUGGESTION}$`),
];

/**
 * The reason of a coercion error, without the value. Other reasons come from the scalars
 * and enums ("Value "…" does not exist in …", "DateTime cannot represent an invalid
 * date-time-string …"), each wording the value in its own way: rather than chase every
 * wording, they become one sentence naming the type.
 */
function valueFreeReason(reason: string): string {
  if (VALUE_FREE_REASONS.some((form) => form.test(reason))) return reason;
  const type = TYPE_IN_REASON.map((form) => form.exec(reason)?.[1]).find(Boolean);
  return type ? `the value is not a valid ${type}.` : 'the value is not valid for its type.';
}

/**
 * The body of an answer to a request refused before GraphQL could read it (too large, not
 * JSON): shaped like any other refusal, so a client reads one kind of error.
 */
export function requestErrorBody(message: string) {
  const extensions = { code: 'BAD_USER_INPUT', status: ERROR_STATUS.BAD_USER_INPUT, timestamp: new Date().toISOString() };
  return { errors: [{ message, extensions }] };
}

export interface ErrorFormatterOptions {
  /** Include stack traces (development only). */
  exposeStack: boolean;
  logUnexpected: (error: unknown) => void;
}

export function createErrorFormatter(options: ErrorFormatterOptions) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const timestamp = new Date().toISOString();
    const base = { message: bounded(formatted.message), locations: formatted.locations, path: formatted.path };

    if (original instanceof AppError) {
      return {
        ...base,
        message: bounded(original.message),
        extensions: {
          code: original.code,
          status: ERROR_STATUS[original.code],
          timestamp,
          ...(original.details.fieldErrors && { fieldErrors: original.details.fieldErrors }),
          ...(original.details.retryAfterSeconds !== undefined && { retryAfterSeconds: original.details.retryAfterSeconds }),
        },
      };
    }

    const apolloCode = formatted.extensions?.code;
    if ((typeof apolloCode === 'string' && REQUEST_ERROR_CODES.has(apolloCode)) || isUncodedRequestError(error)) {
      return {
        ...base,
        message: bounded(withoutVariableValue(formatted.message)),
        extensions: { code: 'BAD_USER_INPUT', status: 400, timestamp },
      };
    }

    options.logUnexpected(original);
    return {
      message: 'Internal server error',
      locations: formatted.locations,
      path: formatted.path,
      extensions: {
        code: 'INTERNAL_SERVER_ERROR',
        status: 500,
        timestamp,
        ...(options.exposeStack && original instanceof Error && { stacktrace: original.stack?.split('\n') }),
      },
    };
  };
}

/**
 * A response refused by rate limits alone answers HTTP 429 with `Retry-After` (the longest
 * wait among its errors), so that proxies, gateways and clients see the throttling without
 * reading the body. A response that also carries data keeps 200: the data must reach the client.
 */
export function rateLimitedStatus<T extends object>(): ApolloServerPlugin<T> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const { errors, data } = response.body.singleResult;
          if (!errors?.length || !errors.every((error) => error.extensions?.code === 'RATE_LIMITED')) return;
          if (data && Object.values(data).some((value) => value !== null)) return;
          response.http.status = ERROR_STATUS.RATE_LIMITED;
          const waits = errors.map((error) => Number(error.extensions?.retryAfterSeconds)).filter((wait) => wait > 0);
          response.http.headers.set('retry-after', String(waits.length > 0 ? Math.max(...waits) : 1));
        },
      };
    },
  };
}
