import { Field, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { MutationOutcome } from '../system/message.type.js';
import { TENANT_ROLES, type TenantRole } from './tenant.entity.js';

export const TenantRoleEnum = Object.fromEntries(TENANT_ROLES.map((role) => [role, role])) as { [R in TenantRole]: R };
registerEnumType(TenantRoleEnum, { name: 'TenantRole' });

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

@ObjectType('Tenant')
export class TenantType {
  @Field(() => ID)
  id: string;

  @Field(() => String)
  name: string;

  @Field(() => Date)
  createdAt: Date;
}

@ObjectType('TenantMembership')
export class TenantMembershipType {
  @Field(() => TenantRoleEnum)
  role: TenantRole;

  @Field(() => Date)
  joinedAt: Date;
}

@ObjectType('TenantPayload')
export class TenantPayloadType extends MutationOutcome {
  @Field(() => TenantType)
  tenant: TenantRecord;
}

@InputType('CreateTenantInput')
export class CreateTenantInput {
  @Field(() => String)
  name: string;
}
