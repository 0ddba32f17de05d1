import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Journal } from '../../journal/journal.js';
import { InputCheck } from '../../validation.js';
import type { AccountCreation, NewAccount, UserService } from '../users/user.service.js';
import type { UserRecord } from '../users/user.type.js';
import type { TenantsDirectory } from './tenants.directory.js';
import type { TenantServiceQueries } from './tenants.queries.js';
import type { CreateTenantInput, TenantRecord } from './tenant.type.js';

/**
 * Tenants and memberships, stored in PostgreSQL. In realm tenancy each tenant also has its
 * own Keycloak realm, where its owner's account lives.
 */
export class TenantService {
  constructor(
    private readonly queries: TenantServiceQueries,
    private readonly journal: Pick<Journal, 'writeLocal'>,
    private readonly users: UserService,
    /** Realm tenancy only: the tenants' own realms. */
    private readonly directory?: TenantsDirectory,
  ) {}

  /**
   * Creates a tenant for `creator`, who must already be in the mirror. Shared tenancy: the
   * creator is its OWNER. Realm tenancy: its OWNER is a new account with the creator's email
   * and names in the tenant's realm, without a password: Keycloak emails the link to set one.
   * Returns the tenant and that OWNER.
   */
  async create(input: CreateTenantInput, creator: UserRecord): Promise<{ tenant: TenantRecord; owner: UserRecord }> {
    checkTenantName(new InputCheck(), 'name', input.name).throwIfAny();
    const tenant = newTenant(input.name);
    if (this.directory) {
      const owner = await this.createWithRealm(
        tenant,
        {
          email: creator.email,
          firstName: creator.firstName,
          lastName: creator.lastName,
          enabled: true,
          emailVerified: creator.emailVerified,
          attributes: {},
          roles: [],
          groups: [],
        },
        {
          action: 'TENANT_CREATE',
          actorId: creator.id,
          target: { type: 'Tenant', id: tenant.id },
          details: { name: tenant.name },
          // Part of the write: an owner nobody can set a password for is undone, realm and all.
          emailActions: ['UPDATE_PASSWORD'],
        },
      );
      return { tenant, owner };
    }
    const ownerId = creator.id;
    await this.journal.writeLocal(
      {
        action: 'TENANT_CREATE',
        targetType: 'Tenant',
        targetId: tenant.id,
        tenantId: tenant.id,
        actorId: ownerId,
        details: { name: tenant.name },
      },
      (em) => this.store(em, tenant, ownerId),
    );
    return { tenant, owner: creator };
  }

  /**
   * Realm tenancy, as one journal write: Keycloak first (the tenant's realm, then the
   * owner's account in it, each undone if a later step fails), then locally the owner's
   * record, the tenant with its realm, and the OWNER membership. Answers the owner.
   */
  async createWithRealm(tenant: TenantRecord, owner: NewAccount, creation: AccountCreation): Promise<UserRecord> {
    if (!this.directory) throw new Error('a tenant with its own realm needs TENANCY_MODE=realm');
    const realm = tenant.id;
    const user = await this.users.inRealm(realm).createAccount(owner, {
      ...creation,
      tenantId: tenant.id,
      details: { ...creation.details, realm },
      newRealm: true,
      afterLocal: (em, userId) => this.store(em, tenant, userId, realm),
    });
    this.directory.remember(realm);
    return user;
  }

  /** Stores a tenant (with its realm in realm tenancy) and its owner's membership, inside the caller's transaction. */
  store(em: EntityManager, tenant: TenantRecord, ownerId: string, realm: string | null = null): Promise<void> {
    return this.queries.within(em).insert(tenant, ownerId, realm);
  }

  listAll(): Promise<TenantRecord[]> {
    return this.queries.listAll();
  }

  listFor(userId: string): Promise<TenantRecord[]> {
    return this.queries.listFor(userId);
  }

  /** The realm of a tenant: null when it has none (the gateway's own), undefined when there is no such tenant. */
  async realmOf(tenantId: string): Promise<string | null | undefined> {
    return (await this.queries.findWithRealm(tenantId))?.realm;
  }
}

export function checkTenantName(check: InputCheck, field: string, name: string | null | undefined): InputCheck {
  check.require(field, name, 'The tenant name').maxLength(field, name, 200);
  if (name?.trim() && !isPlainTenantName(name.trim())) {
    check.fail(
      field,
      "may hold letters, digits, spaces and & ' ’ , . ( ) + ! ? _ - only, with no dot inside a word: no link, domain or address",
    );
  }
  return check;
}

/**
 * Whether a tenant name is plain text that no mail client turns into a link. The
 * name is its creator's text, and invitation emails carry it to any address from the
 * organisation's mail server. Escaping it in each email would depend on how each client
 * linkifies (and a defanged "evil[.]example" reads badly), so names are restricted where
 * they are made: letters, digits, spaces and the punctuation of company names, without
 * "/", ":" or "@" (URLs, addresses) and without a dot inside a word ("evil.example",
 * "Acme.io"), while "Acme Co." keeps its final dot.
 */
export function isPlainTenantName(name: string): boolean {
  return /^[\p{L}\p{M}\p{N} &'’,.()+!?_-]+$/u.test(name) && !/\.[\p{L}\p{M}\p{N}]/u.test(name);
}

export function newTenant(name: string): TenantRecord {
  return { id: randomUUID(), name: name.trim(), createdAt: new Date() };
}
