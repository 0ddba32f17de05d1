import { useQuery, useSubscription } from '@apollo/client/react';
import { useCallback, useEffect, useState } from 'react';
import { subscriptions, useSubscriptionSocketOpen } from '../apollo';
import { type EventScope, eventScope, latestEvents, mergeEvents, scopeFilter, subjectName } from '../events';
import { graphql } from '../gql';
// Not a hook despite its name: it unmasks fragment data (the client preset's fragment masking).
import { useFragment as unmask } from '../gql/fragment-masking';
import type { IdentityEventFieldsFragment } from '../gql/graphql';

/** How many events the page shows at first, and how many more each "Show older events" adds. */
const SHOWN = 20;
/** The largest page `events` answers: the page reads what it missed in as few requests as it can. */
const READ_PAGE = 200;

// A subset of the home page's `me`: the same Me:<id> object in the cache. A tenant switch there
// resets the store, so this is asked again with the new tenant too.
const EventAccessQuery = graphql(`
  query EventAccess {
    me {
      id
      roles
      currentTenant {
        id
      }
      tenants {
        role
        tenant {
          id
        }
      }
    }
  }
`);

const IdentityEventFields = graphql(`
  fragment IdentityEventFields on IdentityEvent {
    id
    type
    origin
    occurredAt
    actorId
    subjectType
    subjectId
    tenantId
    before
    after
  }
`);

const EventsQuery = graphql(`
  query Events($filter: EventFilter, $first: Int, $after: String, $last: Int, $before: String) {
    events(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
      edges {
        cursor
        node {
          ...IdentityEventFields
        }
      }
      pageInfo {
        hasNextPage
        hasPreviousPage
        startCursor
        endCursor
      }
    }
  }
`);

const IdentityEventsSubscription = graphql(`
  subscription IdentityEvents($filter: EventFilter) {
    identityEvents(filter: $filter) {
      ...IdentityEventFields
    }
  }
`);

/** Whether the signed-in person may read events, and which (undefined while `me` loads). */
export function useEventScope(signedIn: boolean): EventScope | null | undefined {
  const { data } = useQuery(EventAccessQuery, { skip: !signedIn });
  if (!signedIn) return null;
  return data ? eventScope(data.me) : undefined;
}

/** Identity events: the newest read with `events`, then each new one as it commits (`identityEvents`). */
export function EventsPage() {
  const scope = useEventScope(true);
  if (scope === undefined) return <p>Loading…</p>;
  if (scope === null) {
    return (
      <section aria-labelledby="events-heading">
        <h1 id="events-heading">Events</h1>
        <p role="alert">
          Identity events are shown to administrators, and to a tenant's owners and admins while they work in that tenant (choose it on the
          home page).
        </p>
      </section>
    );
  }
  // Another tenant is another list: start again rather than mix two tenants' events.
  return <EventFeed key={'tenantId' in scope ? scope.tenantId : '*'} scope={scope} />;
}

function EventFeed({ scope }: { scope: EventScope }) {
  const filter = scopeFilter(scope);
  const [shown, setShown] = useState(SHOWN);
  const [live, setLive] = useState<IdentityEventFieldsFragment[]>([]);
  const connected = useSubscriptionSocketOpen();

  // The newest events first, read backward (last); older pages before the first one read
  // (before), as "Show older events" needs them; what committed since, forward from the last
  // one read (after). relayStylePagination merges them under one cache entry per filter.
  // `last` and `first` are given explicitly each time: fetchMore adds to the first read's variables.
  const { data, error, fetchMore } = useQuery(EventsQuery, { variables: { filter, last: SHOWN } });
  const read = data?.events;
  const lastCursor = read?.edges.at(-1)?.cursor;
  const firstCursor = read?.edges[0]?.cursor;
  const complete = read !== undefined && !read.pageInfo.hasNextPage;
  const readForward = useCallback(
    (after: string) => fetchMore({ variables: { first: READ_PAGE, after, last: null, before: null } }),
    [fetchMore],
  );
  useEffect(() => {
    if (read?.pageInfo.hasNextPage && lastCursor) void readForward(lastCursor);
  }, [read?.pageInfo.hasNextPage, lastCursor, readForward]);

  // The subscription delivers what commits while its socket is open, and nothing from before:
  // each time the socket opens (a reconnection after the 4403 at token expiry, a network blip,
  // or this page opened again over events cached from an earlier visit), read what committed
  // since the last event read. The subscription may deliver some of them too: mergeEvents keeps each once.
  useEffect(
    () =>
      subscriptions.on('connected', () => {
        if (lastCursor) void readForward(lastCursor);
      }),
    [lastCursor, readForward],
  );

  const subscription = useSubscription(IdentityEventsSubscription, {
    variables: { filter },
    onData: ({ data: { data: next } }) => {
      if (next) setLive((events) => [...events, unmask(IdentityEventFields, next.identityEvents)]);
    },
  });

  const all = mergeEvents(read?.edges.map((edge) => unmask(IdentityEventFields, edge.node)) ?? [], live);
  const { shown: events, older } = latestEvents(all, shown);
  const unread = read?.pageInfo.hasPreviousPage ?? false;
  const showOlder = () => {
    setShown((count) => count + SHOWN);
    // Fewer held than the next step shows: read the page before the first one held.
    if (older < SHOWN && unread && firstCursor) {
      void fetchMore({ variables: { last: READ_PAGE, before: firstCursor, first: null, after: null } });
    }
  };

  return (
    <section aria-labelledby="events-heading">
      <h1 id="events-heading">Events</h1>
      <p role="status">
        {subscription.error
          ? `Live events stopped: ${subscription.error.message}`
          : connected
            ? 'Live: new events appear as they happen.'
            : 'Connecting for live events…'}
      </p>
      {error && <p role="alert">{error.message}</p>}
      {!complete && !error && <p>Loading events…</p>}
      {complete && (
        <>
          <button type="button" onClick={showOlder} disabled={older === 0 && !unread}>
            Show older events
          </button>
          <table>
            <caption>
              {'tenantId' in scope ? "This tenant's events" : 'All events'}, newest last
              {(older > 0 || unread) && ' (older events not shown)'}
            </caption>
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col">Origin</th>
                <th scope="col">Subject</th>
                <th scope="col">Actor</th>
                <th scope="col">Time</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <tr key={event.id}>
                  <td>{event.type}</td>
                  <td>{event.origin}</td>
                  <td>
                    {event.subjectType} {subjectName(event) ?? ''} <code>{event.subjectId}</code>
                  </td>
                  <td>{event.actorId ? <code>{event.actorId}</code> : '—'}</td>
                  <td>
                    <time dateTime={event.occurredAt}>{new Date(event.occurredAt).toLocaleString()}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {events.length === 0 && <p>No events yet.</p>}
        </>
      )}
    </section>
  );
}
