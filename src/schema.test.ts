import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { type GraphQLSchema, isEnumType, isInputObjectType, isInterfaceType, isObjectType, isSpecifiedScalarType } from 'graphql';
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

  it('describes every type, field, argument and enum value, so that IDEs and generated code document them', async () => {
    expect(undescribed(await buildPublicSchema())).toEqual([]);
  });

  it('finds what lacks a description, at every level', async () => {
    const schema = await buildPublicSchema();
    const users = schema.getQueryType()!.getFields().users!;
    const first = users.args.find((arg) => arg.name === 'first')!;
    const before = { type: schema.getType('Me')!.description, field: users.description, arg: first.description };
    schema.getType('Me')!.description = undefined;
    users.description = '';
    first.description = undefined;
    try {
      expect(undescribed(schema).sort()).toEqual(['Me', 'Query.users', 'Query.users(first)']);
    } finally {
      Object.assign(schema.getType('Me')!, { description: before.type });
      users.description = before.field;
      first.description = before.arg;
    }
  });

  it('gives DateTime its specification, as the contract does', async () => {
    const schema = await buildPublicSchema();
    expect(schemaText(schema)).toContain('scalar DateTime @specifiedBy(url: "https://datatracker.ietf.org/doc/html/rfc3339")');
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

/** Every type, field, argument and enum value of the schema without a description, by its schema coordinate. */
function undescribed(schema: GraphQLSchema): string[] {
  const missing: string[] = [];
  const need = (coordinate: string, description: string | null | undefined) => {
    if (!description?.trim()) missing.push(coordinate);
  };
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith('__') || isSpecifiedScalarType(type)) continue;
    need(type.name, type.description);
    if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        need(`${type.name}.${field.name}`, field.description);
        for (const arg of 'args' in field ? field.args : []) need(`${type.name}.${field.name}(${arg.name})`, arg.description);
      }
    }
    if (isEnumType(type)) for (const value of type.getValues()) need(`${type.name}.${value.name}`, value.description);
  }
  return missing;
}
