import { useEffect, useState } from 'react';
import { completeSignIn } from '../auth';
import { navigate } from '../navigation';

// The code can be exchanged once: a second run of the effect (React's development checks)
// must reuse the first exchange, not start another.
let exchange: Promise<string> | undefined;

/** Keycloak's redirect after sign-in (?code=…&state=…): the code and the PKCE verifier become tokens. */
export function CallbackPage() {
  const [failure, setFailure] = useState<string>();
  useEffect(() => {
    exchange ??= completeSignIn();
    exchange.then(
      (returnTo) => {
        exchange = undefined;
        navigate(returnTo, { replace: true });
      },
      (error: unknown) => setFailure(error instanceof Error ? error.message : String(error)),
    );
  }, []);
  return failure ? <p role="alert">Sign-in failed: {failure}</p> : <p>Signing you in…</p>;
}
