import { expect } from 'vitest';
import type { TestGateway } from './gateway.js';
import { unique } from './directory.js';
import { CREATE_ENDPOINT, DELETE_ENDPOINT, ENDPOINTS } from './webhook-operations.js';
import { startWebhookReceiver, type ReceivedWebhook, type WebhookReceiver } from './webhook-receiver.js';

export { CREATE_ENDPOINT, DELETE_ENDPOINT, ENDPOINTS, REDELIVER, ROTATE, UPDATE_ENDPOINT } from './webhook-operations.js';
const CREATE_USER = 'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }';

export interface Delivery {
  id: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  attempts: number;
  lastAttemptAt: string | null;
  nextAttemptAt: string | null;
  responseStatus: number | null;
  event: { id: string; type: string; subjectId: string };
}

export const HOUR = 3600_000;

/** A delivery clock for a test gateway: real time plus what the test moved it by, never back. */
export class FakeClock {
  private offsetMs = 0;
  readonly now = () => new Date(Date.now() + this.offsetMs);
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/** What a receiver took of one subject's events: their types, in arrival order. */
export const typesFor = (received: ReceivedWebhook[], subjectId: string) =>
  received.filter((entry) => entry.body.data.subjectId === subjectId).map((entry) => entry.body.type);

/** An administrator's webhook work on a test gateway, with the receivers and endpoints it made (closed by `cleanUp`). */
export class WebhookAdmin {
  private readonly receivers: WebhookReceiver[] = [];
  private readonly endpoints: string[] = [];

  constructor(
    readonly gateway: TestGateway,
    private readonly token: () => Promise<string>,
  ) {}

  async graphql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>) {
    return this.gateway.graphql<T>(query, { token: await this.token(), variables });
  }

  /** A receiver, and an endpoint of its URL whose secret it verifies with. */
  async receiverWithEndpoint(input: Record<string, unknown> = {}) {
    const receiver = await startWebhookReceiver();
    this.receivers.push(receiver);
    const created = await this.graphql(CREATE_ENDPOINT, { input: { url: receiver.url, description: 'test receiver', ...input } });
    expect(created.errors).toBeUndefined();
    const { endpoint, secret } = created.data!.createWebhookEndpoint;
    this.endpoints.push(endpoint.id);
    receiver.secrets = [secret];
    return { receiver, endpointId: endpoint.id as string, secret: secret as string };
  }

  async createUser(): Promise<string> {
    const response = await this.graphql(CREATE_USER, {
      input: { email: `${unique('hooked-')}@example.test`, firstName: 'Hook', lastName: 'Ed', password: 'Str0ng-password' },
    });
    expect(response.errors).toBeUndefined();
    return response.data!.createUser.user.id;
  }

  /** Runs the gateway's delivery worker (as its wake-ups would) until `done` holds. */
  async deliverUntil(done: () => boolean, timeout = 20_000): Promise<void> {
    await expect
      .poll(
        async () => {
          await this.gateway.app.webhooks.runOnce();
          return done();
        },
        { timeout, interval: 50 },
      )
      .toBe(true);
  }

  /** An endpoint's delivery log, newest first. */
  async deliveriesOf(endpointId: string, first = 50): Promise<Delivery[]> {
    const response = await this.graphql(ENDPOINTS, { first });
    const endpoint = response.data!.webhookEndpoints.find((candidate: { id: string }) => candidate.id === endpointId);
    return endpoint.deliveries.edges.map((edge: { node: Delivery }) => edge.node);
  }

  /** Deletes the endpoints and closes the receivers made so far: one left behind would keep receiving. */
  async cleanUp(): Promise<void> {
    for (const id of this.endpoints.splice(0)) await this.graphql(DELETE_ENDPOINT, { id });
    for (const receiver of this.receivers.splice(0)) await receiver.close();
  }
}
