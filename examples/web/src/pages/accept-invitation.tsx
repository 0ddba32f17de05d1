import { useMutation } from '@apollo/client/react';
import { type FormEvent, useState } from 'react';
import { signIn, useOidcUser } from '../auth';
import { Field, FormMessage, formErrors, NO_ERRORS } from '../form';
import { graphql } from '../gql';

const AcceptInvitationMutation = graphql(`
  mutation AcceptInvitation($input: AcceptInvitationInput!) {
    acceptInvitation(input: $input) {
      role
      tenant {
        id
        name
      }
      user {
        id
        email
      }
      keycloakLoginHint
    }
  }
`);

/**
 * The page invitation emails link to (INVITATION_ACCEPT_URL?token=…). A new address gives
 * its names and a password and gets an account; a person who already has one signs in first
 * and accepts as themselves.
 */
export function AcceptInvitationPage({ token }: { token: string }) {
  const user = useOidcUser();
  const [accept, { loading }] = useMutation(AcceptInvitationMutation);
  const [errors, setErrors] = useState(NO_ERRORS);
  const [accepted, setAccepted] = useState<{ tenant: string; role: string; loginHint: string }>();

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? '') || null;
    try {
      const { data } = await accept({
        variables: { input: { token, firstName: text('firstName'), lastName: text('lastName'), password: text('password') } },
      });
      const { tenant, role, keycloakLoginHint } = data!.acceptInvitation;
      setErrors(NO_ERRORS);
      setAccepted({ tenant: tenant.name, role, loginHint: keycloakLoginHint });
    } catch (error) {
      setErrors(formErrors(error));
    }
  };

  if (!token) return <p role="alert">This invitation link has no token: open the link from the email again.</p>;
  if (accepted) {
    return (
      <section aria-labelledby="invitation-heading">
        <h1 id="invitation-heading">Invitation accepted</h1>
        <p role="status">
          You joined {accepted.tenant} as {accepted.role.toLowerCase()}.
        </p>
        {!user && (
          <button type="button" onClick={() => void signIn({ loginHint: accepted.loginHint })}>
            Sign in
          </button>
        )}
      </section>
    );
  }
  const returnHere = `${window.location.pathname}${window.location.search}`;
  return (
    <section aria-labelledby="invitation-heading">
      <h1 id="invitation-heading">Join a tenant</h1>
      <form onSubmit={submit} noValidate>
        <FormMessage errors={errors} />
        {/* The token's problem (invalid, used, revoked, expired) belongs to the whole form. */}
        {errors.fields.token && <p className="error">{errors.fields.token}</p>}
        {user ? (
          <p>You accept as {user.profile.email ?? user.profile.preferred_username}.</p>
        ) : (
          <>
            <p>
              New here? Give your name and choose a password. Already have an account?{' '}
              <button type="button" onClick={() => void signIn({ returnTo: returnHere })}>
                Sign in first
              </button>
            </p>
            <Field label="First name" name="firstName" autoComplete="given-name" error={errors.fields.firstName} />
            <Field label="Last name" name="lastName" autoComplete="family-name" error={errors.fields.lastName} />
            <Field label="Password" name="password" type="password" autoComplete="new-password" error={errors.fields.password} />
          </>
        )}
        <button type="submit" disabled={loading}>
          Accept invitation
        </button>
      </form>
    </section>
  );
}
