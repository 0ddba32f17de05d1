import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeJournal } from '../../journal/journal.fake.js';
import type { Journal, JournalEntry } from '../../journal/journal.js';
import { UserService } from '../users/user.service.js';
import type { UserRecord } from '../users/user.type.js';
import { FakeUsersDirectory } from '../users/users.directory.fake.js';
import { FakeUsersQueries } from '../users/users.queries.fake.js';
import { TenantService } from './tenant.service.js';
import type { TenantsDirectory } from './tenants.directory.js';
import { FakeTenantsQueries } from './tenants.queries.fake.js';

/** The fake journal, with local-only writes as Journal.writeLocal makes them. */
class Journaled extends FakeJournal implements Pick<Journal, 'write' | 'writeLocal'> {
  writeLocal<R>(entry: JournalEntry, local: (em: EntityManager) => Promise<R>): Promise<R> {
    return this.write({ entry, keycloak: async () => undefined, local: (em) => local(em) });
  }
}

/** Tenant realms in memory: made, deleted, and trusted once remembered. */
class FakeTenantRealms implements TenantsDirectory {
  readonly realms = new Set<string>();
  readonly remembered: string[] = [];

  async createRealm(realm: string, undo: Parameters<TenantsDirectory['createRealm']>[1]): Promise<void> {
    undo.push(`delete realm ${realm}`, async () => void this.realms.delete(realm));
    this.realms.add(realm);
  }

  async deleteRealm(realm: string): Promise<void> {
    this.realms.delete(realm);
  }

  remember(realm: string): void {
    this.remembered.push(realm);
  }
}

let journal: Journaled;
let tenants: FakeTenantsQueries;
let queries: FakeUsersQueries;
let directories: Map<string | null, FakeUsersDirectory>;
let realms: FakeTenantRealms;
let creator: UserRecord;
/** Each tenant realm's directory made from now on fails its first email. */
let emailFailsInNewRealms: boolean;

beforeEach(() => {
  journal = new Journaled();
  tenants = new FakeTenantsQueries();
  queries = new FakeUsersQueries();
  directories = new Map();
  realms = new FakeTenantRealms();
  emailFailsInNewRealms = false;
  const now = new Date();
  creator = {
    id: randomUUID(),
    username: 'ada@example.com',
    email: 'ada@example.com',
    firstName: 'Ada',
    lastName: 'Lovelace',
    enabled: true,
    emailVerified: true,
    syncStatus: 'SYNCED',
    attributes: {},
    createdAt: now,
    updatedAt: now,
    realm: null,
  };
  queries.users.set(creator.id, creator);
});

function service(tenancy: 'shared' | 'realm'): TenantService {
  const directoryOf = (realm: string | null | undefined) => {
    const key = realm ?? null;
    if (!directories.has(key)) {
      const directory = new FakeUsersDirectory();
      if (key && emailFailsInNewRealms) directory.failNext('sendActionsEmail');
      directories.set(key, directory);
    }
    return directories.get(key)!;
  };
  const tenantsDirectory = tenancy === 'realm' ? realms : undefined;
  const users = new UserService({
    queries,
    links: queries.links,
    tenants,
    directories: directoryOf,
    tenantsDirectory,
    journal,
    roles: { require: async () => [] },
    groups: { require: async () => [] },
  });
  return new TenantService(tenants, journal, users, tenantsDirectory);
}

describe('createTenant, shared tenancy', () => {
  it('makes the creator its OWNER, journaled, without calling Keycloak', async () => {
    const { tenant, owner } = await service('shared').create({ name: ' Acme Co. ' }, creator);

    expect(tenant.name).toBe('Acme Co.');
    expect(owner).toBe(creator);
    expect(tenants.tenants.get(tenant.id)).toMatchObject({ realm: null, members: new Map([[creator.id, 'OWNER']]) });
    expect(await tenants.listFor(creator.id)).toEqual([tenant]);
    expect(journal.entries).toEqual([expect.objectContaining({ action: 'TENANT_CREATE', targetId: tenant.id, status: 'SUCCEEDED' })]);
    expect(directories.size).toBe(0);
  });

  it('refuses a name a mail client would turn into a link, and stores nothing', async () => {
    await expect(service('shared').create({ name: 'evil.example' }, creator)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
    expect(tenants.tenants.size).toBe(0);
    expect(journal.entries).toEqual([]);
  });
});

describe('createTenant, realm tenancy', () => {
  it("makes the tenant's realm and its OWNER there: the creator's email and names, no password, the link to set one emailed", async () => {
    const { tenant, owner } = await service('realm').create({ name: 'Acme' }, creator);

    expect(realms.realms).toEqual(new Set([tenant.id]));
    expect(realms.remembered).toEqual([tenant.id]);
    expect(owner).toMatchObject({ email: creator.email, firstName: 'Ada', realm: tenant.id });
    expect(owner.id).not.toBe(creator.id);
    const inRealm = directories.get(tenant.id)!;
    expect(inRealm.users.get(owner.id)).toMatchObject({ requiredActions: ['UPDATE_PASSWORD'], password: undefined });
    expect(inRealm.emails).toEqual([{ id: owner.id, actions: ['UPDATE_PASSWORD'], lifespanSeconds: expect.any(Number) }]);
    expect(tenants.tenants.get(tenant.id)).toMatchObject({ realm: tenant.id, members: new Map([[owner.id, 'OWNER']]) });
    expect(journal.entries.at(-1)).toMatchObject({
      action: 'TENANT_CREATE',
      targetType: 'Tenant',
      targetId: tenant.id,
      status: 'SUCCEEDED',
    });
  });

  it('undoes the account and the realm when the email cannot be sent, and stores nothing', async () => {
    emailFailsInNewRealms = true;

    await expect(service('realm').create({ name: 'Acme' }, creator)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(realms.realms.size).toBe(0);
    expect(realms.remembered).toEqual([]);
    expect(tenants.tenants.size).toBe(0);
    expect([...directories.values()].map((directory) => directory.users.size)).toEqual([0]);
    expect([...queries.users.keys()]).toEqual([creator.id]);
    expect(journal.entries.at(-1)!.status).toBe('FAILED');
  });
});
