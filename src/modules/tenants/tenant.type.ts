import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { MutationOutcome } from '../system/message.type.js';
import { TENANT_ROLES, type TenantRole } from './tenant.entity.js';
import { NodeInterface } from '../node/node.type.js';

export const TenantRoleEnum = Object.fromEntries(TENANT_ROLES.map((role) => [role, role])) as { [R in TenantRole]: R };
registerEnumType(TenantRoleEnum, {
  name: 'TenantRole',
  description: "A member's role in a tenant.",
  valuesConfig: {
    OWNER: { description: 'Runs the tenant: invites anyone, other owners included.' },
    ADMIN: { description: "Manages the tenant's members and invitations, but invites no OWNER." },
    MEMBER: { description: 'Belongs to the tenant and sees its members.' },
  },
});

export interface TenantRecord {
  id: string;
  name: string;
  createdAt: Date;
}

export interface MembershipRecord {
  tenantId: string;
  userId: string;
  role: TenantRole;
  joinedAt: Date;
}

@ObjectType('Tenant', {
  implements: NodeInterface,
  description: 'An account that users belong to (multi-tenancy). Read by its members and ROLE_ADMIN.',
})
export class TenantType {
  @Field(() => ID, { description: "The tenant's id; send it as X-Tenant-ID to act within the tenant." })
  id: string;

  @Field(() => String, { description: "The tenant's name." })
  name: string;

  @Field(() => Date, { description: 'When the tenant was created.' })
  createdAt: Date;
}

@ObjectType('TenantMembership', {
  description: "A user's membership of a tenant. Read by the tenant's members, the user themself, ROLE_ADMIN and PRIV_USER_MANAGEMENT.",
})
export class TenantMembershipType {
  @Field(() => TenantRoleEnum, { description: "The member's role in the tenant." })
  role: TenantRole;

  @Field(() => Date, { description: 'When the user joined the tenant.' })
  joinedAt: Date;
}

@ObjectType('TenantPayload', { description: "The answer of createTenant, read by the tenant's members." })
export class TenantPayloadType extends MutationOutcome {
  @Field(() => TenantType, { description: 'The new tenant.' })
  tenant: TenantRecord;
}

@InputType('CreateTenantInput', { description: 'A new tenant.' })
export class CreateTenantInput {
  @Field(() => String, { description: "The tenant's name." })
  name: string;
}
