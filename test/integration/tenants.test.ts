import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../support/database.js';
import { adminAccessToken } from '../support/keycloak.js';
import { TENANCY_MODES, useTenancy, type TenantOwner } from '../support/tenancy.js';

const CREATE_TENANT =
  'mutation($name: String!) { createTenant(input: { name: $name }) { message tenant { id name members { role user { email } } } } }';

describe.each(TENANCY_MODES)('tenants (TENANCY_MODE=%s)', (mode) => {
  const tenancy = useTenancy(mode);
  // Two owners of a tenant each, read by the tests below and changed by none.
  let alice: TenantOwner;
  let bob: TenantOwner;
  beforeAll(async () => {
    [alice, bob] = await Promise.all([tenancy.tenantOwner(), tenancy.tenantOwner()]);
  });

  it('createTenant makes the caller (realm tenancy: the caller’s account in the new realm) its OWNER, in PostgreSQL and in the audit trail', async () => {
    const creator = await tenancy.signedIn(undefined, { realmRoles: ['role_user'] });
    const response = await tenancy.gateway.graphql(CREATE_TENANT, { token: creator.token, variables: { name: '  Acme Ltd ' } });

    expect(response.errors).toBeUndefined();
    const tenant = response.data!.createTenant.tenant;
    if (mode === 'realm') tenancy.track(tenant.id);
    expect(tenant).toMatchObject({ name: 'Acme Ltd', members: [{ role: 'OWNER', user: { email: creator.email } }] });
    const owners = await sql('select m.role, u.email, u.realm from memberships m join users u on u.id = m.user_id where m.tenant_id = $1', [
      tenant.id,
    ]);
    expect(owners).toEqual([{ role: 'OWNER', email: creator.email, realm: mode === 'realm' ? tenant.id : null }]);
    expect(await sql('select action, status, actor_id from audit_events where target_id = $1', [tenant.id])).toEqual([
      { action: 'TENANT_CREATE', status: 'SUCCEEDED', actor_id: creator.id },
    ]);
  });

  it('refuses an empty name with BAD_USER_INPUT and stores nothing', async () => {
    const creator = await tenancy.signedIn();
    const response = await tenancy.gateway.graphql(CREATE_TENANT, { token: creator.token, variables: { name: '   ' } });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', fieldErrors: { name: expect.any(String) } });
    expect(await sql('select 1 from memberships where user_id = $1', [creator.id])).toEqual([]);
  });

  it('lists a member’s own tenants, and every tenant for ROLE_ADMIN', async () => {
    const mine = await tenancy.gateway.graphql('{ tenants { id } }', { token: alice.token });
    expect(mine.data!.tenants).toEqual([{ id: alice.tenant.id }]);
    const all = await tenancy.gateway.graphql('{ tenants { id } }', { token: await adminAccessToken() });
    expect(all.data!.tenants.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining([alice.tenant.id, bob.tenant.id]));
  });

  it('shows me my memberships, and the tenant X-Tenant-ID chooses as currentTenant', async () => {
    const response = await tenancy.gateway.graphql('{ me { currentTenant { id name } tenants { role tenant { id } } } }', {
      token: alice.token,
      headers: { 'x-tenant-id': alice.tenant.id },
    });
    expect(response.errors).toBeUndefined();
    expect(response.data!.me).toEqual({
      currentTenant: { id: alice.tenant.id, name: alice.tenant.name },
      tenants: [{ role: 'OWNER', tenant: { id: alice.tenant.id } }],
    });
    const none = await tenancy.gateway.graphql('{ me { currentTenant { id } } }', { token: alice.token });
    expect(none.data!.me.currentTenant).toBeNull();
  });

  it('answers FORBIDDEN when X-Tenant-ID names a tenant the caller does not belong to', async () => {
    for (const tenantId of [bob.tenant.id, randomUUID()]) {
      const response = await tenancy.gateway.graphql('{ me { user { id } } }', {
        token: alice.token,
        headers: { 'x-tenant-id': tenantId },
      });
      expect(response.data).toBeNull();
      expect(response.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    }
  });

  it('keeps tenant A’s owner out of tenant B, by id, through aliases and nested fields, exactly as for a random id', async () => {
    const response = await tenancy.gateway.graphql(
      `query($mine: ID!, $theirs: ID!, $random: ID!) {
        mine: tenant(id: $mine) { id }
        theirs: tenant(id: $theirs) { id members { user { email } } }
        random: tenant(id: $random) { id }
      }`,
      { token: alice.token, variables: { mine: alice.tenant.id, theirs: bob.tenant.id, random: randomUUID() } },
    );
    expect(response.data).toEqual({ mine: { id: alice.tenant.id }, theirs: null, random: null });
    const errors = Object.fromEntries(response.errors!.map((error) => [error.path![0], error]));
    expect(errors.theirs!.extensions.code).toBe('FORBIDDEN');
    // Another tenant's object and a random id must be indistinguishable.
    const comparable = (error: (typeof errors)[string]) => ({
      message: error!.message,
      extensions: { ...error!.extensions, timestamp: 0 },
    });
    expect(comparable(errors.theirs)).toEqual(comparable(errors.random));

    const nested = await tenancy.gateway.graphql('{ me { tenants { tenant { id members { user { email } } } } } }', { token: alice.token });
    expect(JSON.stringify(nested.data)).not.toContain(bob.email);
  });

  it('lets a tenant’s OWNER read that tenant’s audit events, and no one else’s', async () => {
    const query = 'query($f: AuditEventFilter) { auditEvents(filter: $f) { edges { node { action tenantId } } } }';

    const own = await tenancy.gateway.graphql(query, { token: alice.token, variables: { f: { tenantId: alice.tenant.id } } });
    expect(own.errors).toBeUndefined();
    expect(own.data!.auditEvents.edges.map((edge: { node: unknown }) => edge.node)).toEqual([
      { action: 'USER_SIGNUP', tenantId: alice.tenant.id },
    ]);
    for (const filter of [{ tenantId: bob.tenant.id }, null]) {
      const denied = await tenancy.gateway.graphql(query, { token: alice.token, variables: { f: filter } });
      expect(denied.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    }
  });
});
