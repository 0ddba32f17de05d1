import { scryptSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import KeycloakAdminClient from '@keycloak/keycloak-admin-client';
import type AuthenticationExecutionInfoRepresentation from '@keycloak/keycloak-admin-client/lib/defs/authenticationExecutionInfoRepresentation.js';
import type ClientRepresentation from '@keycloak/keycloak-admin-client/lib/defs/clientRepresentation.js';
import type ProtocolMapperRepresentation from '@keycloak/keycloak-admin-client/lib/defs/protocolMapperRepresentation.js';
import type RealmRepresentation from '@keycloak/keycloak-admin-client/lib/defs/realmRepresentation.js';
import type RoleRepresentation from '@keycloak/keycloak-admin-client/lib/defs/roleRepresentation.js';
import type { RoleMappingPayload } from '@keycloak/keycloak-admin-client/lib/defs/roleRepresentation.js';
import type { Config, SmtpConfig } from '../config.js';
import { ADMIN_ROLE, API_SERVICE_ACCOUNT_ROLES, type Catalog, type CatalogEntry, PRIVILEGE_PREFIX, ROLE_PREFIX } from './realm-catalog.js';

/**
 * The realm's password policy, in Keycloak's syntax. maxLength bounds the work a password
 * costs to hash and to carry (Keycloak itself refuses a request body past its limit with a
 * 413); notEmail and passwordHistory refuse the address itself and the last passwords.
 */
export const PASSWORD_POLICY =
  'length(8) and maxLength(128) and upperCase(1) and lowerCase(1) and digits(1) and notEmail(undefined) and passwordHistory(3)';

/** How long Keycloak keeps login and admin events (30 days): enough to look into an incident. */
export const EVENTS_RETENTION_SECONDS = 30 * 86_400;

/**
 * Keycloak's own clients in every realm. Their password grants would be a second way to
 * guess passwords, past the gateway's rate limits: admin-cli allows them by default.
 */
export const BUILT_IN_CLIENTS = ['admin-cli', 'account', 'account-console'];

/** The realm role and client scope behind offline tokens, which outlive every session and password change. */
const OFFLINE_ACCESS = 'offline_access';

export interface RealmProvisioningOptions {
  keycloakUrl: string;
  masterAdmin: { username: string; password: string };
  realm: string;
  apiClient: { clientId: string; secret: string };
  frontendClient: FrontendClientOptions;
  smtp: Pick<SmtpConfig, 'host' | 'port' | 'from' | 'credentials' | 'tls'>;
  bootstrapAdmin?: { email: string; password: string };
  /** The privileges and roles to create and keep (config.catalog). */
  catalog: Catalog;
  /** Receives one line per thing created or updated; never secrets. */
  log?: (message: string) => void;
}

/**
 * A public client frontends sign in through, set exactly at every run (edits made in
 * Keycloak's console are reverted): Keycloak sends the browser back only to the exact
 * `redirectUris` after sign-in and `postLogoutRedirectUris` after sign-out, and answers
 * CORS for `webOrigins`.
 */
export interface FrontendClientOptions {
  clientId: string;
  redirectUris: string[];
  webOrigins: string[];
  /** Unset: left as Keycloak has it. */
  postLogoutRedirectUris?: string[];
}

/** The frontend client as the configuration describes it (FRONTEND_URLS, FRONTEND_REDIRECT_URIS). */
export function frontendClient(
  clientId: string,
  keycloak: Pick<Config['keycloak'], 'frontendRedirectUris' | 'frontendWebOrigins' | 'frontendPostLogoutRedirectUris'>,
): FrontendClientOptions {
  return {
    clientId,
    redirectUris: keycloak.frontendRedirectUris,
    webOrigins: keycloak.frontendWebOrigins,
    postLogoutRedirectUris: keycloak.frontendPostLogoutRedirectUris,
  };
}

/** Keycloak keeps a client's post-logout redirect URIs in one attribute, separated by `##`. */
const POST_LOGOUT_REDIRECT_URIS = 'post.logout.redirect.uris';

/** The public client frontends sign in through: the authorization-code flow with PKCE, nothing else. */
export function frontendClientRepresentation(frontendClient: FrontendClientOptions): ClientRepresentation & { clientId: string } {
  return {
    clientId: frontendClient.clientId,
    enabled: true,
    publicClient: true,
    standardFlowEnabled: true,
    implicitFlowEnabled: false,
    directAccessGrantsEnabled: false,
    serviceAccountsEnabled: false,
    redirectUris: frontendClient.redirectUris,
    webOrigins: frontendClient.webOrigins,
    attributes: {
      'pkce.code.challenge.method': 'S256',
      ...(frontendClient.postLogoutRedirectUris && { [POST_LOGOUT_REDIRECT_URIS]: frontendClient.postLogoutRedirectUris.join('##') }),
    },
  };
}

/** Makes a client's access tokens name the API client in `aud`, which the gateway requires. */
export function audienceMapper(apiClientId: string): ProtocolMapperRepresentation {
  return {
    name: AUDIENCE_MAPPER,
    protocol: 'openid-connect',
    protocolMapper: 'oidc-audience-mapper',
    config: {
      'included.client.audience': apiClientId,
      'access.token.claim': 'true',
      'id.token.claim': 'false',
    },
  };
}

export interface RealmProvisioningResult {
  realmCreated: boolean;
  notInCatalog: NotInCatalog;
}

/**
 * What the realm holds beyond the catalog: kept as it is, never deleted (users and groups
 * may hold it), and reported so that an operator declares it or deletes it in Keycloak.
 */
export interface NotInCatalog {
  /** role_* realm roles the catalog does not declare. */
  roles: string[];
  /** priv_* realm roles the catalog does not declare. */
  privileges: string[];
  /** For each declared role, the realm roles it is a composite of that the catalog does not give it. */
  grants: Record<string, string[]>;
}

/** Nothing beyond the catalog. */
export function isCatalogExact({ roles, privileges, grants }: NotInCatalog): boolean {
  return roles.length === 0 && privileges.length === 0 && Object.keys(grants).length === 0;
}

/** What Keycloak shows in place of a stored secret, such as the SMTP password, on every read. */
const MASKED_SECRET = '**********';

/**
 * Keycloak never gives the SMTP password back, so the realm's SMTP settings also hold a
 * digest of the password provisioning wrote (Keycloak keeps and shows keys it does not
 * use). A new SMTP_PASSWORD changes the digest, and the settings are written again with
 * it; the same one writes nothing.
 */
const SMTP_PASSWORD_DIGEST = 'iamGatewayPasswordDigest';

const USER_ATTRIBUTES = ['entity_code', 'country_code'];

/**
 * The required actions that enrol a second factor: requireUserActions asks for the first two,
 * and removeUserCredential for the one matching the credential it removes. Keycloak registers
 * and enables them in a new realm; one an operator disabled or deleted is put back.
 */
export const ENROLMENT_ACTIONS = ['CONFIGURE_TOTP', 'webauthn-register', 'webauthn-register-passwordless'];

/** Keycloak's authenticator that asks for an OTP code at sign-in. */
export const OTP_FORM = 'auth-otp-form';
const AUDIENCE_MAPPER = 'api-audience';
const RACE_RECHECK_DELAYS_MS = [0, 250, 500, 1000, 2000, 4000, 8000, 16000];

/**
 * Brings a realm to the state the gateway needs: its settings, the API and frontend
 * clients, the service account's permissions, the catalog's privileges and roles, and
 * the bootstrap administrator. Creates what is missing and updates what differs, so it
 * can run at every start, also while another instance runs it; a second run changes
 * nothing.
 */
export async function provisionRealm(options: RealmProvisioningOptions): Promise<RealmProvisioningResult> {
  // The master realm's admin-cli password grant is how the gateway itself signs in as the
  // master admin: hardening master like a managed realm would lock everyone out.
  if (options.realm === 'master') throw new Error("the master realm is Keycloak's own: choose another KEYCLOAK_REALM");
  const master = await masterAdminClient(options.keycloakUrl, options.masterAdmin);
  // The library renews a password-grant session in its client's realm, so that client
  // stays on master and lends its tokens to one bound to the realm being provisioned.
  const admin = new KeycloakAdminClient({ baseUrl: options.keycloakUrl, realmName: options.realm });
  admin.registerTokenProvider(master);
  return new RealmProvisioner(admin, options).run();
}

/** An admin client signed in to the master realm: only the master admin may create or delete realms. */
export async function masterAdminClient(
  keycloakUrl: string,
  masterAdmin: { username: string; password: string },
): Promise<KeycloakAdminClient> {
  const master = new KeycloakAdminClient({ baseUrl: keycloakUrl, realmName: 'master' });
  try {
    await master.auth({ grantType: 'password', clientId: 'admin-cli', ...masterAdmin });
  } catch (error) {
    throw new Error(`Keycloak master-realm login as ${masterAdmin.username} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return master;
}

class RealmProvisioner {
  private readonly log: (message: string) => void;

  constructor(
    private readonly admin: KeycloakAdminClient,
    private readonly options: RealmProvisioningOptions,
  ) {
    this.log = options.log ?? (() => {});
  }

  async run(): Promise<RealmProvisioningResult> {
    const realmCreated = await this.ensureRealm();
    await this.ensureUserProfileAttributes();
    await this.ensureEnrolmentActions();
    await this.checkOtpAtSignIn();
    await this.ensureNoOfflineAccessByDefault();
    const { apiClient, frontendClient, bootstrapAdmin } = this.options;
    const api = await this.ensureClient({
      clientId: apiClient.clientId,
      enabled: true,
      publicClient: false,
      clientAuthenticatorType: 'client-secret',
      // Compared on every run: the configuration, not Keycloak, owns the secret.
      secret: apiClient.secret,
      serviceAccountsEnabled: true,
      // The gateway's login mutation uses the password grant, through this client only.
      directAccessGrantsEnabled: true,
      standardFlowEnabled: false,
      implicitFlowEnabled: false,
    });
    await this.ensureServiceAccountRoles(api);
    await this.ensureClient(frontendClientRepresentation(frontendClient));
    for (const clientId of BUILT_IN_CLIENTS) await this.ensureNoPasswordGrant(clientId);
    const { roles, notInCatalog } = await this.ensureCatalog();
    if (bootstrapAdmin) await this.ensureBootstrapAdmin(bootstrapAdmin, roles.get(ADMIN_ROLE)!);
    return { realmCreated, notInCatalog };
  }

  /**
   * Keycloak 26 drops user attributes its user profile does not declare: declare the
   * ones the gateway stores (entity_code and country_code), editable by admins.
   */
  private async ensureUserProfileAttributes(): Promise<void> {
    const profile = await this.admin.users.getProfile();
    const attributes = profile.attributes ?? [];
    const missing = USER_ATTRIBUTES.filter((name) => !attributes.some((attribute) => attribute.name === name));
    if (missing.length === 0) return;
    await this.admin.users.updateProfile({
      ...profile,
      attributes: [
        ...attributes,
        ...missing.map((name) => ({
          name,
          displayName: name,
          multivalued: false,
          permissions: { view: ['admin', 'user'], edit: ['admin'] },
        })),
      ],
    });
    this.log(`declared user attributes ${missing.join(', ')}`);
  }

  /** Each of ENROLMENT_ACTIONS registered and enabled. */
  private async ensureEnrolmentActions(): Promise<void> {
    const management = this.admin.authenticationManagement;
    const registered = () => management.getRequiredActions();
    for (const alias of ENROLMENT_ACTIONS) {
      let action = (await registered()).find((candidate) => candidate.alias === alias);
      if (!action) {
        const provider = (await management.getUnregisteredRequiredActions()).find((candidate) => candidate.providerId === alias);
        if (!provider) throw new Error(`Keycloak has no required action ${alias}`);
        const made = await tolerateRace(
          () => management.registerRequiredAction({ providerId: alias, name: provider.name ?? alias }),
          async () => (await registered()).some((candidate) => candidate.alias === alias),
        );
        action = (await registered()).find((candidate) => candidate.alias === alias);
        if (!action) throw new Error(`Keycloak lost the required action ${alias} right after registering it`);
        if (made) this.log(`registered the required action ${alias}`);
      }
      if (action.enabled) continue;
      await management.updateRequiredAction({ alias }, { ...action, enabled: true });
      this.log(`enabled the required action ${alias}`);
    }
  }

  /**
   * Whether the realm's browser flow asks a user with an OTP device for a code: Keycloak's
   * default flow does (an OTP form in its conditional second-factor sub-flow). Flows are the
   * realm operators' to shape, so a flow that does not ask is reported, not rewritten: an OTP
   * device enrolled there (requireUserActions CONFIGURE_TOTP) would never be asked for.
   */
  private async checkOtpAtSignIn(): Promise<void> {
    const { realm } = this.options;
    const flow = (await this.admin.realms.findOne({ realm }))?.browserFlow ?? 'browser';
    const executions = await this.admin.authenticationManagement.getExecutions({ flow });
    if (!executions.some((execution, at) => execution.providerId === OTP_FORM && isActive(executions, at))) {
      this.log(`the browser flow ${flow} asks for no OTP code: OTP devices users enrol are not asked for at sign-in`);
    }
  }

  private async ensureRealm(): Promise<boolean> {
    const { realm, smtp, masterAdmin } = this.options;
    const smtpServer = smtpServerSettings(realm, smtp, masterAdmin.password);
    const desired: RealmRepresentation = {
      enabled: true,
      registrationEmailAsUsername: true,
      loginWithEmailAllowed: true,
      duplicateEmailsAllowed: false,
      passwordPolicy: PASSWORD_POLICY,
      // Off by default. Temporary lockouts only, as a permanent one needs an administrator:
      // after 5 failures, a minute longer per further failure, up to the default 15 minutes.
      bruteForceProtected: true,
      permanentLockout: false,
      failureFactor: 5,
      waitIncrementSeconds: 60,
      smtpServer: smtpServer.asRead,
      // Admin events let a reconciler learn about changes made outside the gateway; login
      // events record every sign-in and failure. Both are kept for a while, not for ever.
      adminEventsEnabled: true,
      adminEventsDetailsEnabled: true,
      eventsEnabled: true,
      eventsExpiration: EVENTS_RETENTION_SECONDS,
      attributes: { adminEventsExpiration: String(EVENTS_RETENTION_SECONDS) },
      // A refresh token works once: a stolen one that is used shows up, as the owner's
      // next refresh fails, and the thief's copy dies with the owner's use of it.
      revokeRefreshToken: true,
      refreshTokenMaxReuse: 0,
    };
    const { created } = await this.ensure(
      `realm ${realm}`,
      desired,
      async () => (await this.admin.realms.findOne({ realm })) ?? undefined,
      // Written whole, password included: Keycloak replaces all the SMTP settings at once.
      () => this.admin.realms.create({ realm, ...desired, smtpServer: smtpServer.written }),
      (changes) => this.admin.realms.update({ realm }, changes.smtpServer ? { ...changes, smtpServer: smtpServer.written } : changes),
    );
    return created;
  }

  /**
   * Offline tokens live 30 days past any session, survive password resets, and only
   * Keycloak's console ends them: no one gets one by default. The realm's default roles
   * lose offline_access, and the gateway's clients the scope that asks for it.
   */
  private async ensureNoOfflineAccessByDefault(): Promise<void> {
    const { realm } = this.options;
    const defaultRole = (await this.admin.realms.findOne({ realm }))?.defaultRole;
    if (!defaultRole?.id) return;
    const composites = () => this.admin.roles.getCompositeRolesForRealm({ id: defaultRole.id! });
    const offline = (await composites()).find((role) => role.name === OFFLINE_ACCESS);
    if (!offline) return;
    const removed = await tolerateRace(
      () => this.admin.roles.delCompositeRoles({ id: defaultRole.id! }, [offline]),
      async () => !(await composites()).some((role) => role.name === OFFLINE_ACCESS),
    );
    if (removed) this.log(`removed ${OFFLINE_ACCESS} from the default roles`);
  }

  private async ensureNoOfflineScope(client: ClientRepresentation): Promise<void> {
    const id = client.id!;
    const optional = () => this.admin.clients.listOptionalClientScopes({ id });
    const scope = (await optional()).find((s) => s.name === OFFLINE_ACCESS);
    if (!scope) return;
    const removed = await tolerateRace(
      () => this.admin.clients.delOptionalClientScope({ id, clientScopeId: scope.id! }),
      async () => !(await optional()).some((s) => s.name === OFFLINE_ACCESS),
    );
    if (removed) this.log(`removed the optional scope ${OFFLINE_ACCESS} from client ${client.clientId}`);
  }

  /** A built-in client without password grants; one an administrator deleted stays deleted. */
  private async ensureNoPasswordGrant(clientId: string): Promise<void> {
    const [client] = await this.admin.clients.find({ clientId });
    if (!client || client.directAccessGrantsEnabled === false) return;
    await this.admin.clients.update({ id: client.id! }, { directAccessGrantsEnabled: false });
    this.log(`updated client ${clientId}: directAccessGrantsEnabled`);
  }

  /**
   * Also gives the client an audience mapper, so its access tokens name the API in `aud`,
   * and takes away its optional offline_access scope.
   */
  private async ensureClient(desired: ClientRepresentation & { clientId: string }): Promise<ClientRepresentation> {
    const mapper = audienceMapper(this.options.apiClient.clientId);
    const { current: client } = await this.ensure<ClientRepresentation>(
      `client ${desired.clientId}`,
      desired,
      async () => (await this.admin.clients.find({ clientId: desired.clientId }))[0],
      // Created with its mapper: Keycloak accepts two same-named mappers added at once,
      // but creates a client only once.
      () => this.admin.clients.create({ protocol: 'openid-connect', ...desired, protocolMappers: [mapper] }),
      (changes, current) => this.admin.clients.update({ id: current.id! }, changes),
    );
    const id = client.id!;
    await this.ensure(
      `protocol mapper ${AUDIENCE_MAPPER} of client ${desired.clientId}`,
      mapper,
      async () => (await this.admin.clients.listProtocolMappers({ id })).find((m) => m.name === AUDIENCE_MAPPER),
      () => this.admin.clients.addProtocolMapper({ id }, mapper),
      // An update replaces the whole mapper: keep the settings this does not manage.
      (changes, current) =>
        this.admin.clients.updateProtocolMapper(
          { id, mapperId: current.id! },
          { ...current, ...changes, config: { ...current.config, ...changes.config } },
        ),
    );
    await this.ensureNoOfflineScope(client);
    return client;
  }

  /** Exactly the realm-management roles the gateway needs: missing ones added, others removed. */
  private async ensureServiceAccountRoles(apiClient: ClientRepresentation): Promise<void> {
    const [realmManagement] = await this.admin.clients.find({ clientId: 'realm-management' });
    const clientUniqueId = realmManagement!.id!;
    const serviceAccount = await this.admin.clients.getServiceAccountUser({ id: apiClient.id! });
    const mapping = { id: serviceAccount.id!, clientUniqueId };
    const available = await this.admin.clients.listRoles({ id: clientUniqueId });
    const wanted = API_SERVICE_ACCOUNT_ROLES.map((name) => {
      const role = available.find((r) => r.name === name);
      if (!role) throw new Error(`Keycloak has no realm-management role ${name}`);
      return role;
    });
    const mapped = await this.admin.users.listClientRoleMappings(mapping);

    const missing = wanted.filter((role) => !hasAll(mapped, [role]));
    if (missing.length > 0) {
      const granted = await tolerateRace(
        () => this.admin.users.addClientRoleMappings({ ...mapping, roles: missing.map(toMapping) }),
        async () => hasAll(await this.admin.users.listClientRoleMappings(mapping), missing),
      );
      if (granted) this.log(`granted ${names(missing)} to the service account of client ${apiClient.clientId}`);
    }
    const surplus = mapped.filter((role) => !API_SERVICE_ACCOUNT_ROLES.includes(role.name!));
    if (surplus.length > 0) {
      await this.admin.users.delClientRoleMappings({ ...mapping, roles: surplus.map(toMapping) });
      this.log(`revoked ${names(surplus)} from the service account of client ${apiClient.clientId}`);
    }
  }

  /**
   * The catalog owns what it declares: each privilege and role is created, its description
   * set back when it differs, and each role given the privileges it lacks (so role_admin
   * always holds every privilege). Nothing is taken away: roles and privileges the catalog
   * does not declare, and composites administrators added to a declared role, stay and are
   * reported. Returns the declared ones by name.
   */
  private async ensureCatalog(): Promise<{ roles: Map<string, RoleRepresentation>; notInCatalog: NotInCatalog }> {
    const { catalog } = this.options;
    const roles = new Map<string, RoleRepresentation>();
    for (const privilege of catalog.privileges) roles.set(privilege.name, await this.ensureRole(privilege));
    const grants: Record<string, string[]> = {};
    for (const entry of catalog.roles) {
      const role = await this.ensureRole(entry);
      roles.set(entry.name, role);
      const undeclared = await this.ensureComposites(
        role,
        entry.privileges.map((name) => roles.get(name)!),
      );
      if (undeclared.length > 0) grants[entry.name] = undeclared;
    }
    const managed = (await this.admin.roles.find()).map((role) => role.name!).filter((name) => !roles.has(name));
    return {
      roles,
      notInCatalog: {
        roles: managed.filter((name) => name.startsWith(ROLE_PREFIX)).sort(),
        privileges: managed.filter((name) => name.startsWith(PRIVILEGE_PREFIX)).sort(),
        grants,
      },
    };
  }

  private async ensureRole({ name, description }: CatalogEntry): Promise<RoleRepresentation> {
    const { current } = await this.ensure(
      `role ${name}`,
      // A catalog entry without a description leaves Keycloak's as it is.
      description === undefined ? {} : { description },
      async () => (await this.admin.roles.findOneByName({ name })) ?? undefined,
      () => this.admin.roles.create({ name, description }),
      // Keycloak sets every field of a role from the body, the name included.
      (changes, found) => this.admin.roles.updateByName({ name }, { ...found, ...changes }),
    );
    return current;
  }

  /** Adds the privileges the role lacks; answers the names of its realm composites the catalog does not give it. */
  private async ensureComposites(role: RoleRepresentation, privileges: RoleRepresentation[]): Promise<string[]> {
    const id = role.id!;
    const composites = () => this.admin.roles.getCompositeRolesForRealm({ id });
    const current = await composites();
    const undeclared = current.filter((composite) => !hasAll(privileges, [composite])).map((composite) => composite.name!);
    const lacking = privileges.filter((privilege) => !hasAll(current, [privilege]));
    if (lacking.length > 0) {
      const added = await tolerateRace(
        () => this.admin.roles.createComposite({ roleId: id }, lacking),
        async () => hasAll(await composites(), lacking),
      );
      if (added) this.log(`added ${names(lacking)} to role ${role.name}`);
    }
    return undeclared.sort();
  }

  private async ensureBootstrapAdmin(
    { email, password }: { email: string; password: string },
    adminRole: RoleRepresentation,
  ): Promise<void> {
    const { current: user, created } = await findOrCreate(
      // Named by its role, not its email: these lines go to the info log, which holds no personal data.
      'the bootstrap admin',
      async () => (await this.admin.users.find({ username: email, exact: true }))[0],
      // The password is set only on creation, so a restart never undoes a password change.
      // Keycloak checks it against the password policy and creates no user when it fails.
      () =>
        this.admin.users.create({
          username: email,
          email,
          emailVerified: true,
          enabled: true,
          firstName: 'Admin',
          lastName: 'User',
          credentials: [{ type: 'password', value: password, temporary: false }],
        }),
    );
    const id = user.id!;
    if (created) this.log(`created the bootstrap admin (user ${id})`);
    const realmRoles = () => this.admin.users.listRealmRoleMappings({ id });
    if (hasAll(await realmRoles(), [adminRole])) return;
    // Not part of the creation: Keycloak ignores realmRoles there (keycloak/keycloak#46759).
    const granted = await tolerateRace(
      () => this.admin.users.addRealmRoleMappings({ id, roles: [toMapping(adminRole)] }),
      async () => hasAll(await realmRoles(), [adminRole]),
    );
    if (granted) this.log(`granted ${ADMIN_ROLE} to the bootstrap admin (user ${id})`);
  }

  /**
   * Creates the thing when missing, else updates the desired fields that differ.
   * Returns it as found, before any update.
   */
  private async ensure<T extends object>(
    thing: string,
    desired: T,
    find: () => Promise<T | undefined>,
    create: () => Promise<unknown>,
    update: (changes: Partial<T>, current: T) => Promise<unknown>,
  ): Promise<{ current: T; created: boolean }> {
    const found = await findOrCreate(thing, find, create);
    if (found.created) {
      this.log(`created ${thing}`);
      return found;
    }
    const changed = changedFields(found.current, desired);
    if (changed.length > 0) {
      const changes = Object.fromEntries(changed.map((key) => [key, desired[key as keyof T]])) as Partial<T>;
      await update(changes, found.current);
      this.log(`updated ${thing}: ${changed.join(', ')}`);
    }
    return found;
  }
}

/**
 * The realm's SMTP settings as provisioning writes them and as Keycloak shows them back
 * (the password masked). Keycloak reads every setting as a string. A key left undefined
 * must be absent: a leftover user or password after the credentials are removed is
 * written away.
 */
function smtpServerSettings(
  realm: string,
  smtp: RealmProvisioningOptions['smtp'],
  digestKey: string,
): { written: Record<string, string>; asRead: Record<string, string | undefined> } {
  const { credentials } = smtp;
  const settings = {
    host: smtp.host,
    port: String(smtp.port),
    from: smtp.from,
    auth: String(credentials !== undefined),
    ssl: String(smtp.tls === 'implicit'),
    starttls: String(smtp.tls === 'starttls'),
  };
  if (!credentials)
    return { written: settings, asRead: { ...settings, user: undefined, password: undefined, [SMTP_PASSWORD_DIGEST]: undefined } };
  const digest = smtpPasswordDigest(realm, credentials, digestKey);
  const common = { ...settings, user: credentials.user, [SMTP_PASSWORD_DIGEST]: digest };
  return { written: { ...common, password: credentials.password }, asRead: { ...common, password: MASKED_SECRET } };
}

/**
 * The digest provisioning keeps beside the realm's SMTP settings, to tell a new SMTP_PASSWORD
 * from the one written before. Keyed by the master admin's password, which the realm's
 * administrators (and the gateway's service account), who can read these settings, do not
 * hold: without it they cannot test guesses of the SMTP password. Whoever knows the SMTP
 * password could instead test guesses of the master admin's: scrypt, not a plain HMAC, makes
 * each guess cost tens of milliseconds and 32 MiB rather than a microsecond.
 */
export function smtpPasswordDigest(realm: string, credentials: { user: string; password: string }, masterPassword: string): string {
  return scryptSync(masterPassword, `${realm}\n${credentials.user}\n${credentials.password}`, 32, {
    N: 2 ** 15,
    r: 8,
    p: 1,
    maxmem: 64 * 1024 * 1024,
  }).toString('base64url');
}

async function findOrCreate<T>(
  thing: string,
  find: () => Promise<T | undefined>,
  create: () => Promise<unknown>,
): Promise<{ current: T; created: boolean }> {
  const existing = await find();
  if (existing) return { current: existing, created: false };
  const created = await tolerateRace(create, async () => (await find()) !== undefined);
  const current = await find();
  if (!current) throw new Error(`Keycloak lost ${thing} right after creating it`);
  return { current, created };
}

/**
 * Makes a write that another provisioning run may be making at the same moment. Keycloak
 * answers the loser with 409, or with 400 when the race reaches the database (realms,
 * role mappings), sometimes before the winner has committed: a failure counts only when
 * the write's effect is still missing half a minute later (a realm's creation takes that
 * long to commit on a busy machine). Returns whether this run made
 * the write.
 */
async function tolerateRace(write: () => Promise<unknown>, isDone: () => Promise<boolean>): Promise<boolean> {
  try {
    await write();
    return true;
  } catch (error) {
    for (const delay of RACE_RECHECK_DELAYS_MS) {
      await sleep(delay);
      if (await isDone()) return false;
    }
    throw error;
  }
}

/** The desired fields whose current value differs: objects compare only the desired keys, lists ignore order. */
function changedFields(current: object, desired: object): string[] {
  return Object.entries(desired)
    .filter(([key, value]) => !matches((current as Record<string, unknown>)[key], value))
    .map(([key]) => key);
}

function matches(current: unknown, desired: unknown): boolean {
  if (Array.isArray(desired)) {
    return Array.isArray(current) && JSON.stringify(current.toSorted()) === JSON.stringify(desired.toSorted());
  }
  if (typeof desired === 'object' && desired !== null) {
    return (
      typeof current === 'object' &&
      current !== null &&
      Object.entries(desired).every(([key, value]) => matches((current as Record<string, unknown>)[key], value))
    );
  }
  return current === desired;
}

/**
 * Whether the execution at `at` can run: neither it nor any sub-flow it sits in is DISABLED.
 * Keycloak lists a flow's executions depth first, each with its depth (`level`): the
 * nearest one before it a level up is its sub-flow.
 */
export function isActive(executions: readonly AuthenticationExecutionInfoRepresentation[], at: number): boolean {
  let level = executions[at]!.level ?? 0;
  if (executions[at]!.requirement === 'DISABLED') return false;
  for (let index = at - 1; index >= 0 && level > 0; index--) {
    const execution = executions[index]!;
    if ((execution.level ?? 0) !== level - 1) continue;
    if (execution.requirement === 'DISABLED') return false;
    level--;
  }
  return true;
}

function hasAll(roles: RoleRepresentation[], wanted: RoleRepresentation[]): boolean {
  return wanted.every((role) => roles.some((r) => r.name === role.name));
}

function toMapping(role: RoleRepresentation): RoleMappingPayload {
  return { id: role.id!, name: role.name! };
}

function names(roles: RoleRepresentation[]): string {
  return roles.map((role) => role.name).join(', ');
}
