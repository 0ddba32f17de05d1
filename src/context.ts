import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { admit, type Caller } from './admission.js';
import { clientAddress, type RateLimiter } from './auth/rate-limit.js';
import type { Principal, TokenVerifier } from './auth/token-verifier.js';
import type { Config } from './config.js';
import { AppError, unauthenticated } from './errors.js';
import type { KeycloakAdmin } from './keycloak/admin-client.js';
import { keycloakEffectiveRoles, type EffectiveRoles } from './keycloak/effective-roles.js';
import type { TenantRealms } from './keycloak/tenant-realms.js';
import type { LiveEvents } from './events/live-events.js';
import type { Logger } from './logger.js';
import { AuthService, type TenantSessions } from './modules/auth/auth.service.js';
import type { KeycloakSessions } from './keycloak/sessions.js';
import { createAuditLoaders } from './modules/audit/audit.loader.js';
import { createCredentialLoaders } from './modules/credentials/credential.loader.js';
import { createEventsLoaders } from './modules/events/events.loader.js';
import { createGroupLoaders } from './modules/groups/group.loader.js';
import { createRoleLoaders } from './modules/roles/role.loader.js';
import { createInvitationLoaders } from './modules/invitations/invitation.loader.js';
import type { Mailer } from './mail/mailer.js';
import { createTenantLoaders } from './modules/tenants/tenant.loader.js';
import { createUserLoaders } from './modules/users/user.loader.js';
import { createSessionLoaders } from './modules/sessions/session.loader.js';
import type { UserRecordCache } from './modules/users/user-record-cache.js';
import { createServices, type Services } from './services.js';
import type { WebhookSettings } from './modules/webhooks/webhook.service.js';
import { createWebhookLoaders } from './modules/webhooks/webhook.loader.js';

/** Who the fields below the root are read for: what the field rules need of a principal. */
export type Viewer = Pick<Principal, 'userId' | 'roles' | 'privileges'>;

/** What every resolver receives: built once per request, shared by nothing. */
export interface GatewayContext {
  requestId: string;
  /**
   * The verified caller, as the token states it, or null for an anonymous call or a token
   * that did not verify. Who they are; what they may do comes from `caller()`.
   */
  principal: Principal | null;
  /**
   * The signed-in person as the gateway admits them for this request (src/admission.ts):
   * their mirror record, and the roles and privileges both their token and the mirror grant.
   * Rejects with UNAUTHENTICATED (no token, or an account deleted or disabled) or FORBIDDEN
   * (a client's token). Settled once per request; the permission rules ask it first.
   */
  caller(): Promise<Caller>;
  /**
   * An account of the caller's other than the token's, proven during this request: the one
   * `login`, `refreshToken` or `signup` signed in (their answers show that account its own
   * data, and the request carries no token for it), or in realm tenancy the caller's account
   * in the tenant `createTenant` made. The field rules read with it as well as with the
   * token's (src/permissions.ts, `viewersOf`); root fields never do, so it authorizes
   * none of the request's other operations.
   */
  ownAccount: Viewer | null;
  /**
   * The account `acceptInvitation` created in this request. Its acceptor reads that account's
   * own record (new: nothing gateway-wide in it yet), but not with its eyes: holding an
   * invitation proves nothing about the address (H2), so not the tenant's members.
   */
  newAccountId: string | null;
  /** The tenant the X-Tenant-ID header chose; the permission rules check the caller belongs to it. */
  requestedTenantId: string | null;
  /** The caller's address: the socket's, or X-Forwarded-For's behind trusted proxies (TRUST_PROXY). */
  clientIp: string;
  rateLimiter: RateLimiter;
  /** The process's cache of callers' records and effective roles; mutations empty it when they end. */
  userRecords: UserRecordCache;
  /** Its lines carry the request's id wherever they are written from (src/logger.ts, `serveRequest`). */
  log: Logger;
  /**
   * Keycloak's live answer to what a user, group or role gives, in the caller's realm
   * (src/keycloak/effective-roles.ts): for the rules the mirror cannot answer alone.
   */
  effectiveRoles: EffectiveRoles;
  services: Services & { auth: AuthService };
  loaders: ReturnType<typeof createLoaders>;
  /** The process's stream of identity events as they commit, for subscriptions. */
  liveEvents: LiveEvents;
  /**
   * Forgets what this context settled: the caller's admission, the loaders' reads and the
   * permission rules' cached answers. A subscription's context lives for many events, and
   * each event is shown to the caller as they are when it is sent, not as they were when
   * they subscribed (src/http/subscriptions.ts).
   */
  renew(): void;
}

export interface ContextDependencies {
  em: EntityManager;
  verifier: TokenVerifier;
  keycloak: KeycloakAdmin;
  sessions: KeycloakSessions;
  mailer: Mailer;
  invitationAcceptUrl: string;
  invitationLimits: Config['invitations'];
  rateLimiter: RateLimiter;
  userRecords: UserRecordCache;
  trustedProxies: number;
  liveEvents: LiveEvents;
  log: Logger;
  /** Present in realm tenancy (TENANCY_MODE=realm) only. */
  tenantRealms?: TenantRealms;
  webhooks: WebhookSettings;
}

export async function createContext(
  deps: ContextDependencies,
  request: { authorization?: string; requestId?: string; tenantId?: string; remoteAddress?: string; forwardedFor?: string },
): Promise<GatewayContext> {
  return new RequestContext(
    deps,
    request.requestId || randomUUID(),
    await authenticate(deps.verifier, request.authorization),
    request.tenantId?.trim() || null,
    clientAddress(request.remoteAddress, request.forwardedFor, deps.trustedProxies),
  );
}

/**
 * The request's parts are built on first use: `me` answered from the caller cache needs
 * neither an EntityManager fork nor services nor loaders (measured by `npm run bench`, workload 1).
 * Getters on the prototype and plain fields, because Apollo copies the context's own
 * properties into a new object of the same prototype before executing.
 */
class RequestContext implements GatewayContext {
  readonly rateLimiter: RateLimiter;
  readonly userRecords: UserRecordCache;
  readonly log: Logger;
  readonly liveEvents: LiveEvents;
  ownAccount: Viewer | null = null;
  newAccountId: string | null = null;
  private parts?: Pick<GatewayContext, 'services' | 'loaders'>;
  private admission?: Promise<Caller>;
  private roleAnswers?: EffectiveRoles;

  constructor(
    private readonly deps: ContextDependencies,
    readonly requestId: string,
    readonly principal: Principal | null,
    readonly requestedTenantId: string | null,
    readonly clientIp: string,
  ) {
    this.rateLimiter = deps.rateLimiter;
    this.userRecords = deps.userRecords;
    this.log = deps.log;
    this.liveEvents = deps.liveEvents;
  }

  renew(): void {
    this.admission = undefined;
    this.parts = undefined;
    // graphql-shield keeps its per-request answers on the context itself (generator.js, `_shield`).
    delete (this as { _shield?: unknown })._shield;
  }

  caller(): Promise<Caller> {
    return (this.admission ??= this.principal ? admit(this.principal, this) : Promise.reject(unauthenticated()));
  }

  /** One per request: its answers are kept for the request, so aliases and repeated ids ask Keycloak once. */
  get effectiveRoles(): EffectiveRoles {
    const { keycloak, tenantRealms } = this.deps;
    const realm = this.principal?.tenantRealm;
    return (this.roleAnswers ??= keycloakEffectiveRoles(realm && tenantRealms ? tenantRealms.adminFor(realm) : keycloak));
  }

  get services(): GatewayContext['services'] {
    return (this.parts ??= buildParts(this.deps, this.log)).services;
  }

  get loaders(): GatewayContext['loaders'] {
    return (this.parts ??= buildParts(this.deps, this.log)).loaders;
  }
}

function buildParts(deps: ContextDependencies, log: Logger): Pick<GatewayContext, 'services' | 'loaders'> {
  // Identity map per request: a fork keeps one request's entities away from another's.
  const em = deps.em.fork();
  const services = createServices(em, { ...deps, keycloak: deps.keycloak.client }, log);
  const loaders = createLoaders(services);
  // Shares the request's user loader, so login's account check and its `me` cost one query.
  const auth = new AuthService({
    sessions: deps.sessions,
    tenantRealms: deps.tenantRealms && tenantSessions(services, deps.tenantRealms, deps.sessions),
    verifier: deps.verifier,
    findUser: (id) => loaders.userById.load(id),
    log,
  });
  return { services: { ...services, auth }, loaders };
}

function createLoaders(services: Services) {
  return {
    ...createUserLoaders(services.users),
    ...createRoleLoaders(services.queries.roles),
    ...createGroupLoaders(services.queries.groups),
    ...createTenantLoaders(services.queries.tenants),
    ...createInvitationLoaders(services.invitations),
    ...createAuditLoaders(services.audit),
    ...createCredentialLoaders(services.credentials),
    ...createSessionLoaders(services.sessions),
    ...createEventsLoaders(services.events),
    ...createWebhookLoaders(services.webhooks),
  };
}

/** Realm tenancy's sessions: the gateway's realm's, and each tenant realm's. */
function tenantSessions(services: Services, tenantRealms: TenantRealms, home: KeycloakSessions): TenantSessions {
  return {
    realmOfTenant: (tenantId) => services.tenants.realmOf(tenantId),
    realmOfIssuer: (issuer) => tenantRealms.realmOfIssuer(issuer),
    sessionsIn: (realm) => (tenantRealms.isTenantRealm(realm) ? tenantRealms.sessionsIn(realm) : home),
  };
}

/**
 * A missing or unverifiable token leaves the caller anonymous: public operations still
 * answer, and the permission rules turn anonymity into UNAUTHENTICATED elsewhere.
 */
async function authenticate(verifier: TokenVerifier, authorization: string | undefined): Promise<Principal | null> {
  const match = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
  if (!match) return null;
  try {
    return await verifier.verify(match[1]!);
  } catch {
    return null;
  }
}

/**
 * The caller of a public operation that acts for a signed-in person (acceptInvitation):
 * their principal once the gateway admits them (src/admission.ts), null otherwise. A
 * token whose account was deleted or disabled, or a client's, speaks for nobody: it is
 * an anonymous call, as it is to every other operation. Admission also mirrors a person
 * seen for the first time, so that what they may accept is found under their address.
 */
export async function admittedPrincipal(context: GatewayContext): Promise<Principal | null> {
  if (!context.principal) return null;
  return context.caller().then(
    ({ principal }) => principal,
    (error: unknown) => {
      if (error instanceof AppError && (error.code === 'UNAUTHENTICATED' || error.code === 'FORBIDDEN')) return null;
      throw error;
    },
  );
}

/** The caller of an operation the permission table already restricted to signed-in users. */
export function principalOf(context: GatewayContext): Principal {
  if (!context.principal) throw unauthenticated();
  return context.principal;
}
