import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { getMetadataStorage } from 'type-graphql';
import { PERMISSIONS } from './permissions.js';
import { buildPublicSchema, schemaText } from './schema.js';

describe('schema', () => {
  it('is exactly the committed schema.graphql (run `npm run schema` after changing a type)', async () => {
    const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    expect(schemaText(await buildPublicSchema())).toBe(committed);
  });

  it('has a permission rule for every Query and Mutation field, and no rule for a field that does not exist', async () => {
    const schema = await buildPublicSchema();
    for (const [typeName, type] of [
      ['Query', schema.getQueryType()],
      ['Mutation', schema.getMutationType()],
    ] as const) {
      const fields = Object.keys(type?.getFields() ?? {}).sort();
      expect(Object.keys(PERMISSIONS[typeName]).sort(), `${typeName} fields without exactly one rule`).toEqual(fields);
    }
  });

  it('maps Date to the contract’s DateTime scalar', async () => {
    const schema = await buildPublicSchema();
    expect(schema.getType('DateTime')).toBeDefined();
    expect(schema.getType('DateTimeISO')).toBeUndefined();
  });

  it('is built from types reflected through emitted decorator metadata under vitest', () => {
    // type-graphql reads design:paramtypes for the resolver classes it instantiates.
    const queries = getMetadataStorage().queries.map((query) => query.methodName);
    expect(queries).toEqual(expect.arrayContaining(['publicHello', 'me', 'users']));
  });
});
