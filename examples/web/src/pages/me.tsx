import { useApolloClient, useQuery } from '@apollo/client/react';
import { graphql } from '../gql';
import { currentTenantId, setCurrentTenantId } from '../tenant';

const MeQuery = graphql(`
  query Me {
    me {
      id
      user {
        id
        email
        firstName
        lastName
      }
      roles
      privileges
      tenants {
        role
        tenant {
          id
          name
        }
      }
      currentTenant {
        id
        name
      }
    }
  }
`);

/** The signed-in person, their tenants, and the tenant the page works in (X-Tenant-ID). */
export function MePage() {
  const client = useApolloClient();
  const { data, error } = useQuery(MeQuery);
  const switchTenant = async (tenantId: string) => {
    setCurrentTenantId(tenantId || null);
    // Another tenant is another view of every query, and the cache does not know the header.
    // Refetching `me` alone let an answer for the old tenant still on its way (the navigation's
    // EventAccess, sent at load) land after it and put Me:<id>.currentTenant back. resetStore
    // drops those answers and what is cached, and asks every shown query again with the new
    // X-Tenant-ID (the link reads it per request).
    await client.resetStore();
  };
  if (error) {
    return (
      <>
        <p role="alert">Could not load your account: {error.message}</p>
        {/* A tenant the person has left since it was chosen answers FORBIDDEN: offer the way out. */}
        {currentTenantId() && (
          <button type="button" onClick={() => void switchTenant('')}>
            Work in no tenant
          </button>
        )}
      </>
    );
  }
  if (!data) return <p>Loading your account…</p>;
  const { me } = data;

  return (
    <section aria-labelledby="me-heading">
      <h1 id="me-heading">
        {me.user.firstName} {me.user.lastName}
      </h1>
      <p>Signed in as {me.user.email}</p>
      <p>Roles: {me.roles.join(', ') || 'none'}</p>
      <h2>Tenants</h2>
      {me.tenants.length === 0 ? (
        <p>You belong to no tenant.</p>
      ) : (
        <ul aria-label="Your tenants">
          {me.tenants.map(({ role, tenant }) => (
            <li key={tenant.id}>
              {tenant.name} ({role})
            </li>
          ))}
        </ul>
      )}
      <label htmlFor="tenant-switch">Work in tenant</label>{' '}
      <select id="tenant-switch" value={currentTenantId() ?? ''} onChange={(event) => void switchTenant(event.target.value)}>
        <option value="">No tenant</option>
        {me.tenants.map(({ tenant }) => (
          <option key={tenant.id} value={tenant.id}>
            {tenant.name}
          </option>
        ))}
      </select>
      <p role="status">{me.currentTenant ? `Working in ${me.currentTenant.name}` : 'Working in no tenant'}</p>
    </section>
  );
}
