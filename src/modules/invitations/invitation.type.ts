import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { MutationOutcome } from '../system/message.type.js';
import type { TenantRole } from '../tenants/tenant.entity.js';
import { TenantRoleEnum, TenantType, type TenantRecord } from '../tenants/tenant.type.js';
import { UserType, type UserRecord } from '../users/user.type.js';

export const INVITATION_STATUSES = ['PENDING', 'ACCEPTED', 'REVOKED', 'EXPIRED'] as const;
export type InvitationStatus = (typeof INVITATION_STATUSES)[number];
export const InvitationStatusEnum = Object.fromEntries(INVITATION_STATUSES.map((s) => [s, s])) as {
  [S in InvitationStatus]: S;
};
registerEnumType(InvitationStatusEnum, { name: 'InvitationStatus' });

export interface InvitationRecord {
  id: string;
  tenantId: string;
  email: string;
  role: TenantRole;
  /** EXPIRED when still pending past `expiresAt`. */
  status: InvitationStatus;
  createdAt: Date;
  expiresAt: Date;
  acceptedAt: Date | null;
  invitedBy: string | null;
}

@ObjectType('Invitation')
export class InvitationType {
  @Field(() => ID)
  id: string;

  @Field(() => String)
  email: string;

  @Field(() => TenantRoleEnum)
  role: TenantRole;

  @Field(() => InvitationStatusEnum)
  status: InvitationStatus;

  @Field(() => Date)
  createdAt: Date;

  @Field(() => Date)
  expiresAt: Date;

  @Field(() => Date, { nullable: true })
  acceptedAt: Date | null;
}

@ObjectType('InvitationPayload')
export class InvitationPayloadType extends MutationOutcome {
  @Field(() => InvitationType)
  invitation: InvitationRecord;

  @Field(() => String, {
    description:
      "The secret to send to the invitee (it is also emailed); returned once, stored only as a hash. Holding it never proves the invitee's email.",
  })
  token: string;
}

@ObjectType('AcceptInvitationPayload')
export class AcceptInvitationPayloadType extends MutationOutcome {
  @Field(() => UserType, { description: "The acceptor's own account: the signed-in caller, or the account just created." })
  user: UserRecord;

  @Field(() => TenantType)
  tenant: TenantRecord;

  @Field(() => TenantRoleEnum)
  role: TenantRole;

  @Field(() => Boolean)
  redirectToKeycloak: boolean;

  @Field(() => String)
  keycloakLoginHint: string;
}

@InputType('CreateInvitationInput')
export class CreateInvitationInput {
  @Field(() => ID)
  tenantId: string;

  @Field(() => String)
  email: string;

  @Field(() => TenantRoleEnum, { nullable: true, defaultValue: 'MEMBER' })
  role?: TenantRole | null;

  @Field(() => Int, { nullable: true, defaultValue: 168, description: 'Hours until the invitation expires.' })
  expiresInHours?: number | null;
}

@InputType('AcceptInvitationInput')
export class AcceptInvitationInput {
  @Field(() => String)
  token: string;

  @Field(() => String, { nullable: true })
  firstName?: string | null;

  @Field(() => String, { nullable: true })
  lastName?: string | null;

  @Field(() => String, { nullable: true })
  password?: string | null;
}
