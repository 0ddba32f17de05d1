import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';
import type { Journal } from '../../journal/journal.js';
import { sendPasswordEmail, SETUP_LINK_LIFESPAN_SECONDS } from '../../keycloak/actions-email.js';
import type { TenantRealms } from '../../keycloak/tenant-realms.js';
import { InputCheck } from '../../validation.js';
import type { AccountCreation, NewAccount, UserService } from '../users/user.service.js';
import type { UserRecord } from '../users/user.type.js';
import { MembershipEntity, TenantEntity } from './tenant.entity.js';
import type { CreateTenantInput, TenantRecord } from './tenant.type.js';

/** Realm tenancy's parts: the tenant realms, and account creation inside one of them. */
export interface RealmTenancy {
  realms: TenantRealms;
  /** Creates users in a tenant realm, through the gateway's admin client there. */
  usersIn(realm: string): UserService;
}

/**
 * Tenants and memberships, stored in PostgreSQL. In realm tenancy each tenant also has its
 * own Keycloak realm, where its owner's account lives.
 */
export class TenantService {
  constructor(
    private readonly em: EntityManager,
    private readonly journal: Journal,
    private readonly realmTenancy?: RealmTenancy,
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
    if (this.realmTenancy) {
      const { realms } = this.realmTenancy;
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
          afterKeycloak: (userId) => sendPasswordEmail(realms.adminFor(tenant.id).client, userId, SETUP_LINK_LIFESPAN_SECONDS),
        },
      );
      return { tenant, owner };
    }
    const ownerId = creator.id;
    await this.journal.writeLocal(
      { action: 'TENANT_CREATE', targetType: 'Tenant', targetId: tenant.id, tenantId: tenant.id, actorId: ownerId, details: { name: tenant.name } },
      (em) => insertTenant(em, tenant, ownerId),
    );
    return { tenant, owner: creator };
  }

  /**
   * Realm tenancy (seed 002), as one journal write: Keycloak first (the tenant's realm,
   * then the owner's account in it, each undone if a later step fails), then locally the
   * owner's record, the tenant with its realm, and the OWNER membership. Answers the owner.
   */
  async createWithRealm(tenant: TenantRecord, owner: NewAccount, creation: AccountCreation): Promise<UserRecord> {
    const { realms, usersIn } = this.realmTenancy!;
    const realm = tenant.id;
    const user = await usersIn(realm).createAccount(owner, {
      ...creation,
      tenantId: tenant.id,
      details: { ...creation.details, realm },
      beforeKeycloak: (undo) => realms.create(realm, undo),
      afterLocal: (em, userId) => insertTenant(em, tenant, userId, realm),
    });
    realms.remember(realm);
    return user;
  }

  listAll(): Promise<TenantRecord[]> {
    return selectRows(this.em, 'select id, name, created_at as "createdAt" from tenants order by name', []);
  }

  listFor(userId: string): Promise<TenantRecord[]> {
    return selectRows(
      this.em,
      `select t.id, t.name, t.created_at as "createdAt" from tenants t join memberships m on m.tenant_id = t.id
        where m.user_id = ? order by t.name`,
      [userId],
    );
  }
}

export function checkTenantName(check: InputCheck, field: string, name: string | null | undefined): InputCheck {
  check.require(field, name, 'The tenant name').maxLength(field, name, 200);
  if (name?.trim() && !isPlainTenantName(name.trim())) {
    check.fail(field, 'may hold letters, digits, spaces and & \' ’ , . ( ) + ! ? _ - only, with no dot inside a word: no link, domain or address');
  }
  return check;
}

/**
 * M4: whether a tenant name is plain text that no mail client turns into a link. The
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

/** Stores a tenant (with its realm in realm tenancy) and its owner's membership, inside the caller's transaction. */
export async function insertTenant(em: EntityManager, tenant: TenantRecord, ownerId: string, realm: string | null = null): Promise<void> {
  await em.insert(TenantEntity, { ...tenant, realm });
  await em.insert(MembershipEntity, { tenant: tenant.id, user: ownerId, role: 'OWNER', joinedAt: tenant.createdAt });
}
