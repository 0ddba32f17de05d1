import type { Config } from '../config.js';
import type { UndoLog } from '../journal/journal.js';
import type { Logger } from '../logger.js';
import { createKeycloakSessions, type KeycloakSessions } from './sessions.js';
import { createKeycloakAdmin, type KeycloakAdmin } from './admin-client.js';
import { isKeycloakNotFound } from './keycloak-errors.js';
import { frontendClient, masterAdminClient, provisionRealm } from './provisioning.js';

/** The public client a tenant's frontends sign in through (code flow with PKCE). */
export const CONTROL_PLANE_CLIENT_ID = 'control-plane';
/** Another gateway process may have created tenants: their realms are learned this often. */
export const TENANT_REALMS_REFRESH_MS = 30_000;

/**
 * Realm tenancy: each tenant's own Keycloak realm, named by the tenant id. Creates and
 * deletes them, hands out the gateway's admin client and sessions in each, and knows which
 * realms exist (recorded with the tenants, read through `recorded`) so that the token
 * verifier trusts them. One per process.
 */
export class TenantRealms {
  private known: readonly string[] = [];
  private readonly admins = new Map<string, KeycloakAdmin>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Config,
    /** The tenant realms recorded in PostgreSQL (by any process). */
    private readonly recorded: () => Promise<string[]>,
    private readonly log: Logger,
  ) {}

  /** The tenant realms recorded so far: read on every token verification, so never waits. */
  trusted(): readonly string[] {
    return this.known;
  }

  /** Loads the known realms, then keeps learning those other processes create. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.log.warn({ err: error }, 'tenant realms not refreshed; keeping the known ones'));
    }, TENANT_REALMS_REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    this.known = await this.recorded();
  }

  /** A tenant realm the gateway knows (not its own realm). */
  isTenantRealm(realm: string): boolean {
    return realm !== this.config.keycloak.realm && this.known.includes(realm);
  }

  /** A realm this process just recorded: trusted at once, before the next refresh. */
  remember(realm: string): void {
    if (!this.known.includes(realm)) this.known = [...this.known, realm];
  }

  /**
   * Provisions a tenant's realm like the gateway's own (brute-force detection, password
   * policy, SMTP, the catalog's roles and privileges, the API client with the same id and
   * secret, so the gateway acts in it and its tokens name the API in `aud`), with
   * `control-plane` as its public client and no bootstrap administrator. The undo is
   * registered first: a realm left half-made by a failing step is deleted too.
   */
  async create(realm: string, undo: UndoLog): Promise<void> {
    const { keycloak, smtp } = this.config;
    undo.push(`delete realm ${realm}`, () => this.delete(realm));
    await provisionRealm({
      keycloakUrl: keycloak.url,
      masterAdmin: this.masterAdmin(),
      realm,
      apiClient: { clientId: keycloak.apiClientId, secret: keycloak.apiClientSecret },
      frontendClient: frontendClient(CONTROL_PLANE_CLIENT_ID, keycloak),
      smtp,
      catalog: this.config.catalog,
      log: (message) => this.log.debug({ realm }, message),
    });
  }

  /** Deletes a tenant's realm, and stops trusting its tokens; one already gone counts as deleted. */
  async delete(realm: string): Promise<void> {
    this.admins.delete(realm);
    this.known = this.known.filter((known) => known !== realm);
    const master = await masterAdminClient(this.config.keycloak.url, this.masterAdmin());
    try {
      await master.realms.del({ realm });
    } catch (error) {
      if (!isKeycloakNotFound(error)) throw error;
    }
  }

  /** The gateway's admin client in a tenant realm, as the API client's service account there. */
  adminFor(realm: string): KeycloakAdmin {
    let admin = this.admins.get(realm);
    if (!admin) {
      const { url, apiClientId, apiClientSecret } = this.config.keycloak;
      admin = createKeycloakAdmin({ url, realm, clientId: apiClientId, clientSecret: apiClientSecret });
      this.admins.set(realm, admin);
    }
    return admin;
  }

  /**
   * The realm a token's (unverified) issuer names, if the gateway knows it: its own or a
   * tenant realm. Picks where a refresh token goes; Keycloak there checks its signature.
   */
  realmOfIssuer(issuer: string | undefined): string | undefined {
    const prefix = `${this.config.keycloak.publicUrl}/realms/`;
    const realm = issuer?.startsWith(prefix) ? issuer.slice(prefix.length) : undefined;
    return realm && (realm === this.config.keycloak.realm || this.known.includes(realm)) ? realm : undefined;
  }

  /** Sessions in a tenant realm (for example a new owner's first tokens), through the API client. */
  sessionsIn(realm: string): KeycloakSessions {
    const { url, apiClientId, apiClientSecret } = this.config.keycloak;
    return createKeycloakSessions({ url, realm, clientId: apiClientId, clientSecret: apiClientSecret });
  }

  private masterAdmin(): { username: string; password: string } {
    // loadConfig refuses TENANCY_MODE=realm without these.
    return this.config.keycloak.masterAdmin!;
  }
}
