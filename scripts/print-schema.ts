/** Regenerates the committed schema.graphql from the type-graphql classes. */
import 'reflect-metadata';
import { writeFileSync } from 'node:fs';
import { buildPublicSchema, schemaText } from '../src/schema.js';

writeFileSync('schema.graphql', schemaText(await buildPublicSchema()));
console.log('wrote schema.graphql');
