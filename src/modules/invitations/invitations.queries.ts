import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';
import type { TenantRole } from '../tenants/tenant.entity.js';
import { InvitationEntity } from './invitation.entity.js';
import type { InvitationRecord } from './invitation.type.js';

/** An invitation's stored state, with EXPIRED read off its expiry. */
const INVITATION_COLUMNS = `i.id, i.tenant_id as "tenantId", i.email, i.role,
  case when i.status = 'PENDING' and i.expires_at <= now() then 'EXPIRED' else i.status end as status,
  i.created_at as "createdAt", i.expires_at as "expiresAt", i.accepted_at as "acceptedAt", i.invited_by as "invitedBy"`;

export interface NewInvitation {
  id: string;
  tenantId: string;
  email: string;
  role: TenantRole;
  tokenHash: string;
  invitedBy: string;
  createdAt: Date;
  expiresAt: Date;
}

/**
 * Every statement on `invitations`. Bound to an EntityManager: the request's, or with
 * `within(em)` the transaction of a journal write.
 */
export class InvitationsQueries {
  constructor(private readonly em: EntityManager) {}

  /** The same statements inside the transaction `em`. */
  within(em: EntityManager): InvitationsQueries {
    return new InvitationsQueries(em);
  }

  findByIds(ids: readonly string[]): Promise<InvitationRecord[]> {
    return selectRows(this.em, `select ${INVITATION_COLUMNS} from invitations i where i.id in (?)`, [ids]);
  }

  async findByTokenHash(tokenHash: string): Promise<InvitationRecord | undefined> {
    const [invitation] = await selectRows<InvitationRecord>(
      this.em,
      `select ${INVITATION_COLUMNS} from invitations i where i.token_hash = ?`,
      [tokenHash],
    );
    return invitation;
  }

  listForTenant(tenantId: string): Promise<InvitationRecord[]> {
    return selectRows(this.em, `select ${INVITATION_COLUMNS} from invitations i where i.tenant_id = ? order by i.created_at desc`, [
      tenantId,
    ]);
  }

  /** How many of the tenant's invitations are pending and unexpired. */
  async countPending(tenantId: string): Promise<number> {
    const [{ pending }] = (await this.em.execute(
      "select count(*)::int as pending from invitations where tenant_id = ? and status = 'PENDING' and expires_at > now()",
      [tenantId],
    )) as [{ pending: number }];
    return pending;
  }

  async insert(invitation: NewInvitation): Promise<void> {
    const { tenantId, ...row } = invitation;
    await this.em.insert(InvitationEntity, { ...row, tenant: tenantId, status: 'PENDING' });
  }

  /** Revokes the invitation if still pending. */
  async revoke(id: string): Promise<void> {
    await this.em.nativeUpdate(InvitationEntity, { id, status: 'PENDING' }, { status: 'REVOKED' });
  }

  /** Marks the invitation accepted if it is pending and unexpired; false when it was not. */
  async claim(id: string): Promise<boolean> {
    const claimed = await this.em.nativeUpdate(
      InvitationEntity,
      { id, status: 'PENDING', expiresAt: { $gt: new Date() } },
      { status: 'ACCEPTED', acceptedAt: new Date() },
    );
    return claimed > 0;
  }
}
