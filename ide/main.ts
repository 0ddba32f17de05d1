// Monaco's language services run in web workers: Vite bundles them as files of their own.
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import './ide.css';
import { GraphiQL } from 'graphiql';
import { getOperationAST, parse } from 'graphql';
import { createClient } from 'graphql-ws';
import { type ComponentProps, createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { type IdeSettings, Session, type SessionState, TokenStore } from './session.js';

const EXAMPLE_QUERY = `# Public: no token needed.
{
  publicHello
}

# Signed in ("Sign in" above): who you are. Every request then carries your access token;
# an Authorization header of your own under Headers takes its place.
# query Me {
#   me { id user { email firstName lastName } roles privileges }
# }

# ROLE_ADMIN: identity events, live, as they commit (results appear as they come).
# subscription Events {
#   identityEvents { type origin subjectType subjectId occurredAt }
# }
`;

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = element<HTMLSpanElement>('session-status');
const signIn = element<HTMLButtonElement>('sign-in');
const signOut = element<HTMLButtonElement>('sign-out');
const remember = element<HTMLInputElement>('remember');

function show(state: SessionState): void {
  const { user } = state;
  signIn.hidden = Boolean(user) || signIn.disabled;
  signOut.hidden = !user;
  if (user) {
    const who = (user.profile.email as string | undefined) ?? user.profile.sub;
    const until = user.expires_at ? new Date(user.expires_at * 1000).toLocaleTimeString() : 'unknown';
    status.textContent = `Signed in as ${who} · access token valid until ${until}`;
  } else {
    status.textContent = state.message ?? 'Signed out';
  }
}

const settings = (await (await fetch('/ide/settings.json')).json()) as IdeSettings;
signIn.disabled = !settings.redirectUri;
const session = new Session(settings, new TokenStore(window.localStorage), show);
remember.checked = session.tokens.remembered;
remember.addEventListener('change', () => session.tokens.remember(remember.checked));
signIn.addEventListener('click', () => void session.signIn());
signOut.addEventListener('click', () => void session.signOut());

/**
 * Subscriptions travel over graphql-ws on the same path, the access token in connection_init.
 * The gateway closes a connection when its token expires (4403); the client then reconnects,
 * asking for the token again, which the session has renewed by then.
 */
const subscriptions = createClient({
  url: `${window.location.origin.replace(/^http/, 'ws')}/graphql`,
  connectionParams: async () => {
    const token = await session.accessToken();
    return token ? { authorization: `Bearer ${token}` } : {};
  },
});

function isSubscription(query: string, operationName?: string | null): boolean {
  try {
    return getOperationAST(parse(query), operationName)?.operation === 'subscription';
  } catch {
    // The gateway reports the syntax error.
    return false;
  }
}

/** Adds the signed-in user's access token; a header typed under Headers wins over it. */
const fetcher: ComponentProps<typeof GraphiQL>['fetcher'] = async (params, options) => {
  if (isSubscription(params.query, params.operationName)) {
    return subscriptions.iterate({ query: params.query, operationName: params.operationName, variables: params.variables ?? undefined });
  }
  const headers = new Headers({ 'content-type': 'application/json' });
  const token = await session.accessToken();
  if (token) headers.set('authorization', `Bearer ${token}`);
  for (const [name, value] of Object.entries(options?.headers ?? {})) headers.set(name, String(value));
  const response = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify(params) });
  return response.json();
};

await session.start();
createRoot(element('graphiql')).render(
  createElement(GraphiQL, { fetcher, defaultQuery: EXAMPLE_QUERY, defaultHeaders: '{}', shouldPersistHeaders: false }),
);
