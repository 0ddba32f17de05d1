import { useMutation } from '@apollo/client/react';
import { type FormEvent, useState } from 'react';
import { signIn } from '../auth';
import { Field, FormMessage, formErrors, NO_ERRORS } from '../form';
import { graphql } from '../gql';

const SignupMutation = graphql(`
  mutation Signup($input: SignupInput!) {
    signup(input: $input) {
      user {
        id
        email
      }
      tenant {
        id
        name
      }
    }
  }
`);

/**
 * A new account through the gateway's public `signup`, then the usual sign-in at Keycloak's
 * page. (signup also answers tokens; an app that signs in through Keycloak has no use for
 * them: its session is Keycloak's, which refreshes and ends there.)
 */
export function SignupPage() {
  const [signup, { loading }] = useMutation(SignupMutation);
  const [errors, setErrors] = useState(NO_ERRORS);
  const [created, setCreated] = useState<{ email: string; tenant?: string }>();

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = (name: string) => String(form.get(name) ?? '');
    try {
      const { data } = await signup({
        variables: {
          input: {
            email: text('email'),
            firstName: text('firstName'),
            lastName: text('lastName'),
            password: text('password'),
            accountName: text('accountName') || null,
          },
        },
      });
      setErrors(NO_ERRORS);
      setCreated({ email: data!.signup.user.email, tenant: data!.signup.tenant?.name });
    } catch (error) {
      setErrors(formErrors(error));
    }
  };

  if (created) {
    return (
      <section aria-labelledby="signup-heading">
        <h1 id="signup-heading">Welcome</h1>
        <p role="status">
          Your account {created.email} is ready{created.tenant ? `, with the tenant ${created.tenant}` : ''}.
        </p>
        <button type="button" onClick={() => void signIn({ loginHint: created.email })}>
          Sign in
        </button>
      </section>
    );
  }
  return (
    <section aria-labelledby="signup-heading">
      <h1 id="signup-heading">Create an account</h1>
      <form onSubmit={submit} noValidate>
        <FormMessage errors={errors} />
        <Field label="Email" name="email" type="email" autoComplete="email" error={errors.fields.email} />
        <Field label="First name" name="firstName" autoComplete="given-name" error={errors.fields.firstName} />
        <Field label="Last name" name="lastName" autoComplete="family-name" error={errors.fields.lastName} />
        <Field label="Password" name="password" type="password" autoComplete="new-password" error={errors.fields.password} />
        <Field label="Organisation (optional)" name="accountName" error={errors.fields.accountName} />
        <button type="submit" disabled={loading}>
          Create account
        </button>
      </form>
    </section>
  );
}
