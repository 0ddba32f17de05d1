import { signIn, signOut, useOidcUser } from './auth';
import { Link, useLocation } from './navigation';
import { AcceptInvitationPage } from './pages/accept-invitation';
import { CallbackPage } from './pages/callback';
import { EventsPage, useEventScope } from './pages/events';
import { MePage } from './pages/me';
import { SignupPage } from './pages/signup';
import { UsersPage } from './pages/users';

export function App() {
  const { path, search } = useLocation();
  const user = useOidcUser();
  // Events only for those who may read them: role_admin, or an OWNER or ADMIN of the current tenant.
  const eventScope = useEventScope(Boolean(user));
  if (path === '/callback') return <CallbackPage />;
  return (
    <>
      <header>
        <nav aria-label="Main">
          <Link to="/">Home</Link> {user && <Link to="/users">Users</Link>} {user && eventScope && <Link to="/events">Events</Link>}{' '}
          {user === null && <Link to="/signup">Sign up</Link>}{' '}
          {user === null && (
            <button type="button" onClick={() => void signIn()}>
              Sign in
            </button>
          )}
          {user && (
            <button type="button" onClick={() => void signOut()}>
              Sign out
            </button>
          )}
        </nav>
      </header>
      <main>
        <Page path={path} search={search} signedIn={user ? true : user === null ? false : undefined} />
      </main>
    </>
  );
}

function Page({ path, search, signedIn }: { path: string; search: URLSearchParams; signedIn: boolean | undefined }) {
  if (path === '/accept-invitation') return <AcceptInvitationPage token={search.get('token') ?? ''} />;
  if (path === '/signup') return <SignupPage />;
  if (signedIn === undefined) return null;
  if (!signedIn) return <p>Sign in to see your account, or sign up for one.</p>;
  if (path === '/users') return <UsersPage />;
  if (path === '/events') return <EventsPage />;
  return <MePage />;
}
