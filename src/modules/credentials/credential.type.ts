import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import type { EmailAction } from '../../keycloak/actions-email.js';

/** One of a user's credentials as Keycloak lists it: never its secret nor its data. */
export interface CredentialRecord {
  id: string;
  /** As Keycloak names it: password, otp, webauthn, webauthn-passwordless, ... */
  type: string;
  label: string | null;
  createdAt: Date | null;
}

@ObjectType('Credential', { description: "One of a user's credentials (a password, an OTP device, a passkey), without its secret." })
export class CredentialType implements CredentialRecord {
  @Field(() => ID, { description: "Keycloak's id of the credential." })
  id: string;

  @Field(() => String, { description: 'As Keycloak names it: password, otp, webauthn, webauthn-passwordless, ...' })
  type: string;

  @Field(() => String, { nullable: true, description: 'The name the user gave it (an OTP device, a passkey), if any.' })
  label: string | null;

  @Field(() => Date, { nullable: true, description: 'When it was created, if Keycloak knows.' })
  createdAt: Date | null;
}

/** What requireUserActions may ask of a user, each with the Keycloak required action that does it. */
export const REQUIRED_ACTION_ALIASES = {
  VERIFY_EMAIL: 'VERIFY_EMAIL',
  UPDATE_PASSWORD: 'UPDATE_PASSWORD',
  CONFIGURE_TOTP: 'CONFIGURE_TOTP',
  UPDATE_PROFILE: 'UPDATE_PROFILE',
  WEBAUTHN_REGISTER: 'webauthn-register',
} as const satisfies Record<string, EmailAction>;

export type RequiredAction = keyof typeof REQUIRED_ACTION_ALIASES;

export const RequiredActionEnum = Object.fromEntries(Object.keys(REQUIRED_ACTION_ALIASES).map((action) => [action, action])) as {
  [A in RequiredAction]: A;
};
registerEnumType(RequiredActionEnum, {
  name: 'RequiredAction',
  description: 'Something a user must do at the next sign-in, on Keycloak’s pages.',
  valuesConfig: {
    VERIFY_EMAIL: { description: 'Prove the email address by following the link Keycloak sends.' },
    UPDATE_PASSWORD: { description: 'Choose a new password.' },
    CONFIGURE_TOTP: { description: 'Enrol an authenticator app (one-time codes).' },
    UPDATE_PROFILE: { description: 'Review and complete the profile.' },
    WEBAUTHN_REGISTER: { description: 'Register a security key or passkey.' },
  },
});
