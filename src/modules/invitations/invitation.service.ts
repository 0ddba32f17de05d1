import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Principal } from '../../auth/token-verifier.js';
import { AppError } from '../../errors.js';
import type { Journal } from '../../journal/journal.js';
import type { Logger } from '../../logger.js';
import type { Mailer } from '../../mail/mailer.js';
import { InputCheck } from '../../validation.js';
import type { TenantRole } from '../tenants/tenant.entity.js';
import { isPlainTenantName } from '../tenants/tenant.service.js';
import type { TenantRecord } from '../tenants/tenant.type.js';
import type { TenantsQueries } from '../tenants/tenants.queries.js';
import type { UserService } from '../users/user.service.js';
import type { UserRecord } from '../users/user.type.js';
import type { InvitationsQueries } from './invitations.queries.js';
import type { AcceptInvitationInput, CreateInvitationInput, InvitationRecord, InvitationStatus } from './invitation.type.js';

const MAX_EXPIRY_HOURS = 30 * 24;

/**
 * H4: the one answer to every acceptance that can neither join the caller's own account
 * nor make a new one: an invitation to an address that has an account, without that
 * account's sign-in; and one to an address without an account, without names. Worded and
 * coded alike, so that it never tells whether the address has an account.
 */
export const SIGN_IN_OR_GIVE_NAMES =
  'To accept this invitation, sign in as the invited account; to create a new account, give firstName and lastName';

export interface InvitationDependencies {
  queries: InvitationsQueries;
  tenants: Pick<TenantsQueries, 'within' | 'findByIds' | 'findWithRealm'>;
  journal: Pick<Journal, 'writeLocal'>;
  /** Creates accounts in the gateway's realm, and with inRealm in a tenant's own (realm tenancy). */
  users: UserService;
  mailer: Mailer;
  /** The frontend page the email links to. */
  acceptUrl: string;
  /** M4: the most invitations one tenant may have pending (and unexpired) at once. */
  maxPendingPerTenant: number;
  log: Logger;
}

/** Invitations to join a tenant, by email, with a secret token. */
export class InvitationService {
  constructor(private readonly deps: InvitationDependencies) {}

  async create(input: CreateInvitationInput, actorId: string): Promise<{ invitation: InvitationRecord; token: string; emailed: boolean }> {
    const hours = input.expiresInHours ?? 168;
    const check = new InputCheck().email('email', input.email);
    if (!Number.isInteger(hours) || hours < 1 || hours > MAX_EXPIRY_HOURS) {
      check.fail('expiresInHours', `must be between 1 and ${MAX_EXPIRY_HOURS}`);
    }
    check.throwIfAny();
    const [tenant] = await this.deps.tenants.findByIds([input.tenantId]);
    if (!tenant) throw new AppError('NOT_FOUND', `No tenant with id ${input.tenantId}`);

    const token = randomBytes(32).toString('base64url');
    const now = new Date();
    const row = {
      id: randomUUID(),
      tenantId: tenant.id,
      email: input.email.trim().toLowerCase(),
      role: input.role ?? 'MEMBER',
      tokenHash: hashToken(token),
      invitedBy: actorId,
      createdAt: now,
      expiresAt: new Date(now.getTime() + hours * 3600_000),
    };
    await this.deps.journal.writeLocal(
      {
        action: 'INVITATION_CREATE',
        targetType: 'Invitation',
        targetId: row.id,
        tenantId: tenant.id,
        actorId,
        details: { email: row.email, role: row.role, expiresAt: row.expiresAt.toISOString() },
      },
      async (em) => {
        await this.requireRoomForOneMore(em, tenant.id);
        await this.deps.queries.within(em).insert(row);
      },
    );
    const emailed = await this.sendInvitation(row.email, tenant.name, token, row.expiresAt);
    return { invitation: (await this.findByIds([row.id]))[0]!, token, emailed };
  }

  findByIds(ids: readonly string[]): Promise<InvitationRecord[]> {
    return this.deps.queries.findByIds(ids);
  }

  async list(tenantId: string, status?: InvitationStatus | null): Promise<InvitationRecord[]> {
    const rows = await this.deps.queries.listForTenant(tenantId);
    return status ? rows.filter((row) => row.status === status) : rows;
  }

  async revoke(id: string, actorId: string): Promise<void> {
    const [invitation] = await this.findByIds([id]);
    if (!invitation) throw new AppError('NOT_FOUND', `No invitation with id ${id}`);
    if (invitation.status !== 'PENDING') {
      throw new AppError('CONFLICT', `The invitation is ${invitation.status.toLowerCase()}; only a pending one can be revoked`);
    }
    await this.deps.journal.writeLocal(
      {
        action: 'INVITATION_REVOKE',
        targetType: 'Invitation',
        targetId: id,
        tenantId: invitation.tenantId,
        actorId,
        details: { email: invitation.email },
      },
      (em) => this.deps.queries.within(em).revoke(id),
    );
  }

  /**
   * Public. The token names the invitation but proves nothing about the invited address:
   * the inviter held it too. So:
   * - an address that has an account in the tenant's realm joins only when the caller is
   *   signed in as that very account (H4): nobody is added to a tenant, or made its owner,
   *   without their own sign-in, and nobody is handed another person's record;
   * - an address without one gets a new, unverified account (H2), and Keycloak emails the
   *   address one link that verifies it (and sets a password, when none was given here).
   *   Realm tenancy: a caller signed in elsewhere under the invited address brings their names.
   * Anything else answers SIGN_IN_OR_GIVE_NAMES, after the same lookups either way. The
   * invitation is claimed inside the local transaction, so two acceptances at once yield
   * one membership.
   */
  async accept(
    input: AcceptInvitationInput,
    caller: Principal | null,
  ): Promise<{ user: UserRecord; tenant: TenantRecord; role: TenantRole; created: boolean }> {
    const invitation = await this.pendingInvitation(input.token);
    const found = await this.deps.tenants.findWithRealm(invitation.tenantId);
    const { realm, ...tenant } = found!;
    // Realm tenancy: the tenant's members are accounts of its own realm.
    const users = realm ? this.deps.users.inRealm(realm) : this.deps.users;
    const joinTenant = (em: EntityManager, userId: string) => this.claim(em, invitation, userId);
    const entry = {
      action: 'INVITATION_ACCEPT',
      targetType: 'Invitation',
      targetId: invitation.id,
      tenantId: invitation.tenantId,
      details: { email: invitation.email, role: invitation.role, ...(realm && { realm }) },
    };

    const [existing] = await users.findByEmailInRealm(invitation.email);
    if (existing) {
      if (caller?.userId !== existing.id || !existing.enabled) throw signInOrGiveNames();
      await this.deps.journal.writeLocal({ ...entry, actorId: existing.id }, (em) => joinTenant(em, existing.id));
      return { user: existing, tenant, role: invitation.role, created: false };
    }

    const self = caller?.email === invitation.email ? caller : null;
    const firstName = input.firstName ?? self?.firstName;
    const lastName = input.lastName ?? self?.lastName;
    if (!firstName?.trim() || !lastName?.trim()) throw signInOrGiveNames();
    const check = new InputCheck();
    if (input.password) check.password('password', input.password);
    check.throwIfAny();
    const user = await users
      .createAccount(
        {
          email: invitation.email,
          firstName,
          lastName,
          password: input.password ?? undefined,
          enabled: true,
          // H2: holding the token is no proof of the address; Keycloak's email below is.
          emailVerified: false,
          attributes: {},
          roles: [],
          groups: [],
        },
        {
          ...entry,
          actorId: null,
          // Part of the write: an account whose address cannot be reached is undone, and the invitation stays pending.
          emailActions: input.password ? ['VERIFY_EMAIL'] : ['VERIFY_EMAIL', 'UPDATE_PASSWORD'],
          afterLocal: joinTenant,
        },
      )
      .catch((error: unknown) => {
        // An account the mirror has not seen yet (made in Keycloak's console, say): Keycloak's
        // own "exists" must not tell the caller more than the mirror's answer above does.
        throw error instanceof AppError && error.code === 'CONFLICT' ? signInOrGiveNames() : error;
      });
    return { user, tenant, role: invitation.role, created: true };
  }

  private async pendingInvitation(token: string): Promise<InvitationRecord> {
    const invitation = token ? await this.deps.queries.findByTokenHash(hashToken(token)) : undefined;
    const refusal: Record<Exclude<InvitationStatus, 'PENDING'>, string> = {
      ACCEPTED: 'This invitation has already been accepted',
      REVOKED: 'This invitation has been revoked',
      EXPIRED: 'This invitation has expired',
    };
    if (!invitation) throw invalidToken('This invitation link is invalid');
    if (invitation.status !== 'PENDING') throw invalidToken(refusal[invitation.status]);
    return invitation;
  }

  /**
   * M4: refuses a tenant's invitation beyond its pending cap. Runs in the transaction that
   * inserts the invitation, holding the tenant's row (FOR NO KEY UPDATE, which leaves the
   * foreign keys of memberships and invitations free): two inviters at once are counted
   * one after the other, so the cap holds.
   */
  private async requireRoomForOneMore(em: EntityManager, tenantId: string): Promise<void> {
    const max = this.deps.maxPendingPerTenant;
    await this.deps.tenants.within(em).lock(tenantId);
    const pending = await this.deps.queries.within(em).countPending(tenantId);
    if (pending >= max) {
      throw new AppError(
        'CONFLICT',
        `This tenant already has ${max} pending invitations, the most allowed: revoke one, or wait until one is accepted or expires`,
      );
    }
  }

  /** Marks the invitation accepted and adds the membership; fails if another acceptance won. */
  private async claim(em: EntityManager, invitation: InvitationRecord, userId: string): Promise<void> {
    if (!(await this.deps.queries.within(em).claim(invitation.id))) throw invalidToken('This invitation has already been accepted');
    await this.deps.tenants.within(em).addMember(invitation.tenantId, userId, invitation.role);
  }

  /**
   * Sends the invitation; a mail failure leaves the invitation valid and is reported to the
   * inviter. M4: a tenant's name is its creator's text, mailed by the organisation's server
   * to any address. So it never goes into the subject, and the body names the tenant only
   * when the name is plain (isPlainTenantName: no URL, domain or address for a mail client
   * to turn into a link). Names are restricted so at creation; one stored before that is
   * left out rather than sent.
   */
  private async sendInvitation(email: string, tenantName: string, token: string, expiresAt: Date): Promise<boolean> {
    const link = `${this.deps.acceptUrl}?token=${encodeURIComponent(token)}`;
    const tenant = isPlainTenantName(tenantName) ? `the tenant "${tenantName}"` : 'a tenant';
    try {
      await this.deps.mailer.send({
        to: email,
        subject: 'You have been invited to join a tenant',
        text:
          `You have been invited to join ${tenant}.\n\nAccept the invitation: ${link}\n\n` +
          `The link is valid until ${expiresAt.toISOString()}. If you did not expect this invitation, ignore this email.`,
      });
      return true;
    } catch (error) {
      this.deps.log.warn({ err: error }, 'invitation email not sent');
      return false;
    }
  }
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function signInOrGiveNames(): AppError {
  return new AppError('BAD_USER_INPUT', SIGN_IN_OR_GIVE_NAMES);
}

function invalidToken(message: string): AppError {
  return new AppError('BAD_USER_INPUT', message, { fieldErrors: { token: message } });
}
