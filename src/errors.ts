import type { GraphQLFormattedError } from 'graphql';
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

export interface ErrorFormatterOptions {
  /** Include stack traces (development only). */
  exposeStack: boolean;
  logUnexpected: (error: unknown) => void;
}

export function createErrorFormatter(options: ErrorFormatterOptions) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const timestamp = new Date().toISOString();
    const base = { message: formatted.message, locations: formatted.locations, path: formatted.path };

    if (original instanceof AppError) {
      return {
        ...base,
        message: original.message,
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
    if (typeof apolloCode === 'string' && REQUEST_ERROR_CODES.has(apolloCode)) {
      return { ...base, extensions: { code: 'BAD_USER_INPUT', status: 400, timestamp } };
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
