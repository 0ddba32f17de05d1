import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { keycloakAdmin, renewedToken } from '../support/keycloak.js';
import { subscribed, type Watch, watch } from '../support/subscriptions.js';
import { newEmail } from '../support/sync.js';
import { WebhookAdmin } from '../support/webhooks.js';

// Issue 15's "done when", as production runs it: one gateway with its background work on
// (the relay, webhook delivery, Keycloak's admin events read every 2 s), a signed webhook
// receiver, a live subscription and a consumer of the events query. A realm and database of
// their own: the admin-events reader and the reconciler take in every user of the realm.

const CREATE_USER = 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }';
const UPDATE_USER = 'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { user { id } } }';
const DELETE_USER = 'mutation($id: ID!) { deleteUser(id: $id) { message } }';
const EVENTS = /* GraphQL */ `
  query Events($first: Int, $after: String, $filter: EventFilter) {
    events(first: $first, after: $after, filter: $filter) {
      edges { node { id type origin actorId subjectId } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

interface Seen {
  id: string;
  type: string;
  origin: string;
  actorId: string | null;
  subjectId: string;
}

interface EventsPage {
  events: { edges: { node: Seen }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
}

let backends: IsolatedBackends;
let gateway: TestGateway;
let token: () => Promise<string>;
let adminId: string;
let hooks: WebhookAdmin;
let subscription: Watch | undefined;

beforeAll(async () => {
  backends = await isolatedBackends('events-e2e');
  gateway = await startTestGateway(() => ({ ...backends.config, jobs: { ...backends.config.jobs, enabled: true } }));
  const admin = backends.config.bootstrapAdmin!;
  token = renewedToken(admin.email, admin.password, backends.realm);
  const me = await gateway.graphql<{ me: { id: string } }>('{ me { id } }', { token: await token() });
  adminId = me.data!.me.id;
  hooks = new WebhookAdmin(gateway, token);
});
afterAll(async () => {
  await subscription?.client.dispose();
  await hooks?.cleanUp();
  await gateway?.close();
  await backends?.close();
});

async function asAdmin<T = Record<string, any>>(query: string, variables: Record<string, unknown>): Promise<T> {
  const response = await gateway.graphql<T>(query, { token: await token(), variables });
  expect(response.errors, query).toBeUndefined();
  return response.data!;
}

/** The events query read from the start, page by page, as a consumer polling with its cursor does. */
async function polled(): Promise<Seen[]> {
  const seen: Seen[] = [];
  let after: string | null = null;
  for (;;) {
    const { events }: EventsPage = await asAdmin<EventsPage>(EVENTS, { first: 100, after });
    seen.push(...events.edges.map((edge) => edge.node));
    if (!events.pageInfo.hasNextPage) return seen;
    after = events.pageInfo.endCursor;
  }
}

it('a user created, changed and deleted through the gateway, and one created in Keycloak, reach a signed webhook, a live subscription and the events query in the same order, with their origins', async () => {
  const { receiver } = await hooks.receiverWithEndpoint();
  const bearer = await token();
  subscription = await subscribed(gateway, () => watch(gateway, bearer));

  const email = newEmail('e2e');
  const { createUser } = await asAdmin(CREATE_USER, {
    input: { email, firstName: 'Ada', lastName: 'Lovelace', password: `Pw-${randomUUID()}-9a` },
  });
  const throughGateway: string = createUser.user.id;
  await asAdmin(UPDATE_USER, { id: throughGateway, input: { firstName: 'Augusta' } });
  await asAdmin(DELETE_USER, { id: throughGateway });
  // Created as Keycloak's admin console does it: its admin API, not the gateway.
  const consoleEmail = newEmail('console');
  const created = await keycloakAdmin(
    'POST',
    '/users',
    { username: consoleEmail, email: consoleEmail, firstName: 'Grace', lastName: 'Hopper', enabled: true },
    backends.realm,
  );
  expect(created.status).toBe(201);
  const throughConsole = created.location!.split('/').at(-1)!;

  const subjects = new Set([throughGateway, throughConsole]);
  const expected = [
    { type: 'USER_CREATED', origin: 'GATEWAY', subjectId: throughGateway },
    { type: 'USER_UPDATED', origin: 'GATEWAY', subjectId: throughGateway },
    { type: 'USER_DELETED', origin: 'GATEWAY', subjectId: throughGateway },
    { type: 'USER_CREATED', origin: 'KEYCLOAK', subjectId: throughConsole },
  ];
  const ofTheTwo = (events: Seen[]) => events.filter((event) => subjects.has(event.subjectId));
  const shape = ({ type, origin, subjectId }: Seen) => ({ type, origin, subjectId });
  // The console's user arrives through the admin-events reader, within seconds; the gateway's at once.
  const live = await subscription.until(
    () => {
      const events = ofTheTwo(subscription!.events);
      return events.length >= expected.length && events;
    },
    'the four events on the subscription',
    30_000,
  );
  const delivered = () => ofTheTwo(receiver.accepted().map(({ body }) => ({ ...body.data, type: body.type }) as Seen));
  await expect.poll(() => delivered().length, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(expected.length);
  const webhooks = delivered();
  const queried = ofTheTwo(await polled());

  expect(live.map(shape)).toEqual(expected);
  expect(webhooks.map(shape)).toEqual(expected);
  expect(queried.map(shape)).toEqual(expected);
  // The same events, not look-alikes: one id each, the same on all three.
  expect(webhooks.map((event) => event.id)).toEqual(live.map((event) => event.id));
  expect(queried.map((event) => event.id)).toEqual(live.map((event) => event.id));
  expect(live.slice(0, 3).every((event) => event.actorId === adminId)).toBe(true);
  expect(live[3]!.actorId).toBeNull();
  // Every delivery carried a signature the receiver verified with the endpoint's secret.
  expect(receiver.unverified).toBe(0);
  expect(subscription.errors).toEqual([]);
});
