import { Field, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { MutationOutcome } from '../system/message.type.js';
import type { TenantRole } from '../tenants/tenant.entity.js';
import { TenantRoleEnum, TenantType, type TenantRecord } from '../tenants/tenant.type.js';
import { UserType, type UserRecord } from '../users/user.type.js';
import { NodeInterface } from '../node/node.type.js';

export const INVITATION_STATUSES = ['PENDING', 'ACCEPTED', 'REVOKED', 'EXPIRED'] as const;
export type InvitationStatus = (typeof INVITATION_STATUSES)[number];
export const InvitationStatusEnum = Object.fromEntries(INVITATION_STATUSES.map((s) => [s, s])) as {
  [S in InvitationStatus]: S;
};
registerEnumType(InvitationStatusEnum, {
  name: 'InvitationStatus',
  description: 'Where an invitation stands.',
  valuesConfig: {
    PENDING: { description: 'Sent, and may still be accepted.' },
    ACCEPTED: { description: 'Accepted: the invitee is a member.' },
    REVOKED: { description: 'Withdrawn by the tenant before it was accepted.' },
    EXPIRED: { description: 'Not accepted before expiresAt.' },
  },
});

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

@ObjectType('Invitation', {
  implements: NodeInterface,
  description: "An invitation to join a tenant, sent by email. Read by the tenant's OWNER or ADMIN and ROLE_ADMIN.",
})
export class InvitationType {
  @Field(() => ID, { description: "The invitation's id." })
  id: string;

  @Field(() => String, { description: 'The address the invitation was sent to.' })
  email: string;

  @Field(() => TenantRoleEnum, { description: 'The role the invitee receives on accepting.' })
  role: TenantRole;

  @Field(() => InvitationStatusEnum, { description: 'Where the invitation stands.' })
  status: InvitationStatus;

  @Field(() => Date, { description: 'When the invitation was created.' })
  createdAt: Date;

  @Field(() => Date, { description: 'After this instant the invitation can no longer be accepted.' })
  expiresAt: Date;

  @Field(() => Date, { nullable: true, description: 'When it was accepted; null until then.' })
  acceptedAt: Date | null;
}

@ObjectType('InvitationPayload', { description: "The answer of createInvitation, read by the tenant's OWNER or ADMIN and ROLE_ADMIN." })
export class InvitationPayloadType extends MutationOutcome {
  @Field(() => InvitationType, { description: 'The new invitation.' })
  invitation: InvitationRecord;

  @Field(() => String, {
    description:
      "The secret to send to the invitee (it is also emailed); returned once, stored only as a hash. Holding it never proves the invitee's email.",
  })
  token: string;
}

@ObjectType('AcceptInvitationPayload', { description: "The answer of acceptInvitation, read by whoever held the invitation's token." })
export class AcceptInvitationPayloadType extends MutationOutcome {
  @Field(() => UserType, { description: "The acceptor's own account: the signed-in caller, or the account just created." })
  user: UserRecord;

  @Field(() => TenantType, { description: 'The tenant joined.' })
  tenant: TenantRecord;

  @Field(() => TenantRoleEnum, { description: 'The role received in the tenant.' })
  role: TenantRole;

  @Field(() => Boolean, { description: "Whether the invitee should now sign in through Keycloak's page." })
  redirectToKeycloak: boolean;

  @Field(() => String, { description: "The login_hint to pass to Keycloak's sign-in page." })
  keycloakLoginHint: string;
}

@InputType('CreateInvitationInput', { description: 'An invitation to a tenant.' })
export class CreateInvitationInput {
  @Field(() => ID, { description: 'The tenant to invite to.' })
  tenantId: string;

  @Field(() => String, { description: "The invitee's email address." })
  email: string;

  @Field(() => TenantRoleEnum, {
    nullable: true,
    defaultValue: 'MEMBER',
    description: 'The role the invitee receives; only an OWNER or ROLE_ADMIN invites an OWNER.',
  })
  role?: TenantRole | null;

  @Field(() => Int, { nullable: true, defaultValue: 168, description: 'Hours until the invitation expires.' })
  expiresInHours?: number | null;
}

@InputType('AcceptInvitationInput', { description: 'Accepting an invitation.' })
export class AcceptInvitationInput {
  @Field(() => String, { description: "The invitation's secret, from the email." })
  token: string;

  @Field(() => String, {
    nullable: true,
    description: `For an invitee without a Keycloak account: names and, optionally, a password.
Without a password Keycloak emails a password-setup link.`,
  })
  firstName?: string | null;

  @Field(() => String, { nullable: true, description: 'The family name of an invitee without a Keycloak account.' })
  lastName?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'The password of an invitee without a Keycloak account; without one Keycloak emails a password-setup link.',
  })
  password?: string | null;
}
