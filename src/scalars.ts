import { GraphQLScalarType } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';

/**
 * The contract's DateTime: graphql-scalars' scalar, also accepting the timestamp text
 * PostgreSQL returns on the plain-row read paths ("2026-11-29 03:44:03.67+00").
 */
export const DateTimeScalar = new GraphQLScalarType({
  ...DateTimeResolver.toConfig(),
  description: 'An RFC 3339 date-time string in UTC, for example 2026-12-01T21:13:50.123Z.',
  specifiedByURL: 'https://datatracker.ietf.org/doc/html/rfc3339',
  serialize(value) {
    const date = value instanceof Date ? value : typeof value === 'string' ? new Date(value) : undefined;
    return DateTimeResolver.serialize(date && !Number.isNaN(date.getTime()) ? date : value);
  },
});
