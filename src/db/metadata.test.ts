import 'reflect-metadata';
import { describe, expect, it } from 'vitest';
import { MikroORM } from '@mikro-orm/postgresql';
import { UserEntity } from '../modules/users/user.entity.js';
import { databaseOptions } from '../database.js';

describe('decorator metadata under vitest', () => {
  it('is emitted for entity properties', () => {
    expect(Reflect.getMetadata('design:type', UserEntity.prototype, 'email')).toBe(String);
    expect(Reflect.getMetadata('design:type', UserEntity.prototype, 'enabled')).toBe(Boolean);
    expect(Reflect.getMetadata('design:type', UserEntity.prototype, 'createdAt')).toBe(Date);
  });

  it('gives MikroORM the property types it maps to columns', async () => {
    // Discovery needs no connection: this checks what the reflected metadata produced.
    const orm = new MikroORM(databaseOptions('postgres://nobody@127.0.0.1:1/none'));
    const properties = orm.getMetadata().get(UserEntity).properties;
    expect(properties.email.runtimeType).toBe('string');
    expect(properties.enabled.runtimeType).toBe('boolean');
    expect(properties.createdAt.runtimeType).toBe('Date');
    await orm.close();
  });
});
