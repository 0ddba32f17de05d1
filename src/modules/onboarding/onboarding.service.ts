import { AppError } from '../../errors.js';
import type { Journal } from '../../journal/journal.js';
import { SETUP_LINK_LIFESPAN_SECONDS } from '../../keycloak/actions-email.js';
import type { TenantRealms } from '../../keycloak/tenant-realms.js';
import type { Logger } from '../../logger.js';
import type { KeycloakSessions, TokenSet } from '../../keycloak/sessions.js';
import type { GroupService } from '../groups/group.service.js';
import type { RoleService } from '../roles/role.service.js';
import { newTenant, type TenantService } from '../tenants/tenant.service.js';
import type { TenantRecord } from '../tenants/tenant.type.js';
import { userAttributes, type AccountCreation, type NewAccount, type UserService } from '../users/user.service.js';
import type { UserRecord } from '../users/user.type.js';
import type { UsersDirectories } from '../users/users.realms.js';
import type { UsersQueries } from '../users/users.queries.js';
import { checkRegisterUser, checkSignup, type RegisterUserInput, type SignupInput } from './onboarding.input.js';

/** Sign-up's refusal, worded to confirm no more than that signing up is not possible. */
export const NOT_ELIGIBLE_FOR_SIGNUP = 'Email not eligible for signup. Please login.';
const RESET_LINK_LIFESPAN_SECONDS = 3600;

export interface OnboardingDependencies {
  queries: Pick<UsersQueries, 'findByIds' | 'findForPasswordReset'>;
  /** Realm routing: the Keycloak users of the realm an account lives in. */
  directories: UsersDirectories;
  sessions: KeycloakSessions;
  journal: Journal;
  users: UserService;
  roles: RoleService;
  groups: GroupService;
  tenants: TenantService;
  /** Present in realm tenancy only: a new tenant's first tokens come from its own realm. */
  tenantRealms?: Pick<TenantRealms, 'sessionsIn'>;
  log: Logger;
}

/** How people get an account and a password: sign-up, admin registration, password emails. */
export class OnboardingService {
  constructor(private readonly deps: OnboardingDependencies) {}

  /** Sign-up: the Keycloak user, its local record, an optional tenant, and tokens. */
  async signup(input: SignupInput): Promise<{ user: UserRecord; tenant: TenantRecord | null; tokens: TokenSet | null }> {
    checkSignup(input);
    const tenant = input.accountName ? newTenant(input.accountName) : null;
    // Realm tenancy: the account is made in the new tenant's own realm instead.
    const tenantRealms = tenant ? this.deps.tenantRealms : undefined;
    const account: NewAccount = {
      email: input.email,
      firstName: input.firstName,
      lastName: input.lastName,
      password: input.password,
      enabled: true,
      emailVerified: false,
      attributes: {},
      roles: [],
      groups: [],
    };
    const creation: AccountCreation = {
      action: 'USER_SIGNUP',
      actorId: null,
      tenantId: tenant?.id,
      details: tenant ? { tenant: tenant.name } : {},
    };
    let user: UserRecord;
    let tokens: Promise<TokenSet | null> | undefined;
    try {
      user =
        tenant && tenantRealms
          ? await this.signupInOwnRealm(tenant, account, creation)
          : await this.deps.users.createAccount(account, {
              ...creation,
              afterLocal: tenant ? (em, userId) => this.deps.tenants.store(em, tenant, userId) : undefined,
              // The first tokens need only the Keycloak user: asked for while the mirror is
              // written, not after. Should that write fail, the user is deleted again in
              // Keycloak, ending the session, and the tokens are never handed out.
              afterKeycloak: async () => {
                tokens = this.firstTokens(this.deps.sessions, account.email.trim().toLowerCase(), input.password);
              },
            });
    } catch (error) {
      // Known locally or only in Keycloak: either way the same answer, revealing nothing more.
      if (error instanceof AppError && error.code === 'CONFLICT') throw new AppError('CONFLICT', NOT_ELIGIBLE_FOR_SIGNUP);
      throw error;
    }
    tokens ??= this.firstTokens(
      tenant && tenantRealms ? tenantRealms.sessionsIn(tenant.id) : this.deps.sessions,
      user.email,
      input.password,
    );
    return { user, tenant, tokens: await tokens };
  }

  /**
   * Sign-up in realm tenancy. The new realm holds no one yet, so eligibility is checked
   * as in shared tenancy: an email the gateway knows, in any realm, or that its
   * own realm has in Keycloak only, cannot sign up again.
   */
  private async signupInOwnRealm(tenant: TenantRecord, account: NewAccount, creation: AccountCreation): Promise<UserRecord> {
    const email = account.email.trim().toLowerCase();
    const known =
      (await this.deps.users.findByEmail(email)).length > 0 || (await this.deps.directories(null).findByEmail(email)) !== undefined;
    if (known) throw new AppError('CONFLICT', NOT_ELIGIBLE_FOR_SIGNUP);
    return this.deps.tenants.createWithRealm(tenant, account, creation);
  }

  /** An administrator registers an account without a password; Keycloak emails the link to set one. */
  async registerUser(input: RegisterUserInput, actorId: string): Promise<UserRecord> {
    checkRegisterUser(input);
    return this.deps.users.createAccount(
      {
        email: input.email,
        firstName: input.firstName,
        lastName: input.lastName,
        enabled: true,
        emailVerified: false,
        attributes: userAttributes(input),
        roles: await this.deps.roles.require('ROLE', input.roleIds ?? [], 'roleIds'),
        groups: await this.deps.groups.require(input.groupIds ?? [], 'groupIds'),
      },
      {
        action: 'USER_REGISTER',
        actorId,
        // Part of the write: an account nobody can set a password for is undone.
        emailActions: ['UPDATE_PASSWORD'],
        // Keycloak away: the user is kept as PENDING and pushed by the sync job (src/jobs/user-sync.ts).
        keepWhenUnreachable: true,
      },
    );
  }

  /** Sent by the realm the account lives in (realm tenancy: its tenant's realm). */
  async sendPasswordSetupEmail(userId: string, actorId: string): Promise<void> {
    const [user] = await this.deps.queries.findByIds([userId]);
    if (!user) throw new AppError('NOT_FOUND', `No user with id ${userId}`);
    const directory = this.deps.directories(user.realm);
    await this.deps.journal.write({
      entry: {
        action: 'PASSWORD_SETUP_EMAIL',
        targetType: 'User',
        targetId: userId,
        actorId,
        details: { email: user.email, ...(user.realm && { realm: user.realm }) },
      },
      keycloak: () => directory.sendActionsEmail(userId, ['UPDATE_PASSWORD'], SETUP_LINK_LIFESPAN_SECONDS),
      local: async () => undefined,
    });
  }

  /**
   * Always answers the same, after the same work (one lookup), whether or not the email
   * is known: the email itself is sent in the background for known users only. The
   * account is the gateway realm's, or with `tenantId` that tenant's realm's (realm
   * tenancy: one person may have an account in each).
   */
  async resetPassword(email: string, tenantId?: string | null): Promise<void> {
    const normalized = email.trim().toLowerCase();
    // Shared tenancy, or no tenant named: the gateway's realm. An unknown tenant matches no one.
    const realmTenant = tenantId && this.deps.tenantRealms ? tenantId : undefined;
    const user = await this.deps.queries.findForPasswordReset(normalized, realmTenant);
    if (!user) return;
    void this.deps.journal
      .write({
        entry: {
          action: 'PASSWORD_RESET_EMAIL',
          targetType: 'User',
          targetId: user.id,
          actorId: null,
          details: { email: normalized, ...(user.realm && { realm: user.realm }) },
        },
        keycloak: () => this.deps.directories(user.realm).sendActionsEmail(user.id, ['UPDATE_PASSWORD'], RESET_LINK_LIFESPAN_SECONDS),
        local: async () => undefined,
      })
      .catch((error: unknown) => this.deps.log.warn({ err: error, userId: user.id }, 'password reset email not sent'));
  }

  /** Tokens for a user who can log in at once; none when Keycloak wants something first. */
  private async firstTokens(sessions: KeycloakSessions, email: string, password: string): Promise<TokenSet | null> {
    try {
      return await sessions.passwordGrant(email, password);
    } catch {
      return null;
    }
  }
}
