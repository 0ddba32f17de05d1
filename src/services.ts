import type KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from './config.js';
import type { EventOrigin } from './events/outbox.js';
import { Journal } from './journal/journal.js';
import { createKeycloakSessions, type KeycloakSessions } from './keycloak/sessions.js';
import type { TenantRealms } from './keycloak/tenant-realms.js';
import type { Logger } from './logger.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { AuditService } from './modules/audit/audit.service.js';
import { CredentialService } from './modules/credentials/credential.service.js';
import { keycloakCredentialsDirectories } from './modules/credentials/credentials.directory.js';
import { DashboardService } from './modules/dashboard/dashboard.service.js';
import { EventsService } from './modules/events/events.service.js';
import { GroupService } from './modules/groups/group.service.js';
import { KeycloakGroupsDirectory } from './modules/groups/groups.directory.js';
import { groupsQueries } from './modules/groups/groups.queries.js';
import { InvitationService } from './modules/invitations/invitation.service.js';
import { InvitationsQueries } from './modules/invitations/invitations.queries.js';
import { OnboardingService } from './modules/onboarding/onboarding.service.js';
import { RoleService } from './modules/roles/role.service.js';
import { SessionService } from './modules/sessions/session.service.js';
import { keycloakSessionsDirectories } from './modules/sessions/sessions.directory.js';
import { PostgresSessionsQueries } from './modules/sessions/sessions.queries.js';
import { KeycloakRolesDirectory } from './modules/roles/roles.directory.js';
import { rolesQueries } from './modules/roles/roles.queries.js';
import { TenantService } from './modules/tenants/tenant.service.js';
import { KeycloakTenantsDirectory } from './modules/tenants/tenants.directory.js';
import { TenantsQueries } from './modules/tenants/tenants.queries.js';
import { userLinks } from './modules/users/user-links.js';
import { UserMirror } from './modules/users/user-mirror.js';
import { UserService } from './modules/users/user.service.js';
import { UserImportService } from './modules/users/user-import.service.js';
import { keycloakUsersDirectories, realmAdminClients } from './modules/users/users.realms.js';
import { UsersQueries } from './modules/users/users.queries.js';
import { WebhookService, type WebhookSettings } from './modules/webhooks/webhook.service.js';
import { webhookSettings } from './modules/webhooks/webhook.settings.js';
import { WebhooksQueries } from './modules/webhooks/webhooks.queries.js';

/** What the service graph is built from: the process's long-lived parts. */
export interface ServiceDependencies {
  /** The gateway's admin client in its own realm. */
  keycloak: KeycloakAdminClient;
  sessions: KeycloakSessions;
  mailer: Mailer;
  invitationAcceptUrl: string;
  invitationLimits: Config['invitations'];
  /** Present in realm tenancy (TENANCY_MODE=realm) only. */
  tenantRealms?: TenantRealms;
  webhooks: WebhookSettings;
}

export type Services = ReturnType<typeof createServices>;

/** The dependencies from the configuration, for a process that runs jobs apart from a gateway's requests. */
export function serviceDependencies(
  config: Config,
  keycloak: KeycloakAdminClient,
  tenantRealms?: TenantRealms,
  webhooks: WebhookSettings = webhookSettings(config.webhooks),
): ServiceDependencies {
  const { url, realm, apiClientId, apiClientSecret } = config.keycloak;
  return {
    keycloak,
    sessions: createKeycloakSessions({ url, realm, clientId: apiClientId, clientSecret: apiClientSecret }),
    mailer: createMailer(config.smtp),
    invitationAcceptUrl: config.invitationAcceptUrl,
    invitationLimits: config.invitations,
    tenantRealms,
    webhooks,
  };
}

/**
 * The service graph over one EntityManager fork: a request's, or one unit of a job's
 * work. Requests and jobs alike build it here, so a write takes the same path whoever
 * makes it. `origin` names who makes the changes in the identity events (src/events/outbox.ts).
 */
export function createServices(em: EntityManager, deps: ServiceDependencies, log: Logger, origin: EventOrigin = 'GATEWAY') {
  const { keycloak, sessions, mailer, invitationAcceptUrl, invitationLimits, tenantRealms, webhooks } = deps;
  const journal = new Journal(em, log, origin);
  const queries = {
    users: new UsersQueries(em),
    roles: rolesQueries(em),
    groups: groupsQueries(em),
    tenants: new TenantsQueries(em),
    invitations: new InvitationsQueries(em),
  };
  const links = userLinks(queries);
  const directories = keycloakUsersDirectories(keycloak, tenantRealms);
  const tenantsDirectory = tenantRealms && new KeycloakTenantsDirectory(tenantRealms);
  const roles = new RoleService({ queries: queries.roles, directory: new KeycloakRolesDirectory(keycloak), journal });
  const groups = new GroupService({
    queries: queries.groups,
    directory: new KeycloakGroupsDirectory(keycloak),
    journal,
    roles,
    users: queries.users,
  });
  const users = new UserService({
    queries: queries.users,
    links,
    tenants: queries.tenants,
    directories,
    tenantsDirectory,
    journal,
    roles,
    groups,
  });
  const tenants = new TenantService(queries.tenants, journal, users, tenantsDirectory);
  return {
    queries,
    /** Realm routing: the Keycloak users of the realm an account lives in. */
    directories,
    users,
    userImport: new UserImportService({ users, queries: queries.users, links, roles, groups }),
    userMirror: new UserMirror({ queries: queries.users, links, directories, transactional: (work) => em.transactional(work) }),
    roles,
    groups,
    tenants,
    onboarding: new OnboardingService({
      queries: queries.users,
      directories,
      sessions,
      journal,
      users,
      roles,
      groups,
      tenants,
      tenantRealms,
      log,
    }),
    invitations: new InvitationService({
      queries: queries.invitations,
      tenants: queries.tenants,
      journal,
      users,
      mailer,
      acceptUrl: invitationAcceptUrl,
      maxPendingPerTenant: invitationLimits.maxPendingPerTenant,
      log,
    }),
    credentials: new CredentialService({
      users,
      directories: keycloakCredentialsDirectories(realmAdminClients(keycloak, tenantRealms)),
      journal,
    }),
    audit: new AuditService(em),
    events: new EventsService(em),
    webhooks: new WebhookService({ ...webhooks, queries: new WebhooksQueries(em), journal }),
    dashboard: new DashboardService(em),
    sessions: new SessionService({
      directories: keycloakSessionsDirectories(keycloak, tenantRealms),
      queries: new PostgresSessionsQueries(em),
      users: queries.users,
      journal,
    }),
  };
}
