import { GraphQLScalarType } from 'graphql';
import { DateTimeResolver } from 'graphql-scalars';

/**
 * The contract's DateTime: graphql-scalars' scalar, also accepting the timestamp text
 * PostgreSQL returns on the plain-row read paths ("2026-11-29 03:44:03.67+00").
 */
export const DateTimeScalar = new GraphQLScalarType({
  ...DateTimeResolver.toConfig(),
  serialize(value) {
    const date = value instanceof Date ? value : typeof value === 'string' ? new Date(value) : undefined;
    return DateTimeResolver.serialize(date && !Number.isNaN(date.getTime()) ? date : value);
  },
});
