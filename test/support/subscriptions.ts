import { createClient, type Client } from 'graphql-ws';
import { expect, vi } from 'vitest';
import WebSocket from 'ws';
import type { TestGateway } from './gateway.js';

export const SUBSCRIBE_IDENTITY_EVENTS = `subscription($filter: EventFilter) {
  identityEvents(filter: $filter) { id type origin actorId subjectType subjectId tenantId after }
}`;

export interface StreamedEvent {
  id: string;
  type: string;
  origin: string;
  actorId: string | null;
  subjectType: string;
  subjectId: string;
  tenantId: string | null;
  after: Record<string, unknown> | null;
}

/** One subscription over graphql-ws: what it received, how it ended, and a wait for a condition on them. */
export interface Watch {
  /** The gateway acknowledged connection_init: the caller was admitted. */
  acknowledged: boolean;
  events: StreamedEvent[];
  /** Errors that came with an event (the rule refused that one). */
  errors: { message: string; extensions?: { code?: string } }[];
  /** The subscription ended (the gateway completed it: a refused start ends so). */
  completed: boolean;
  closed: { code: number; reason: string } | null;
  until<T>(found: () => T | null | undefined | false, what: string, timeoutMs?: number): Promise<T>;
  client: Client;
}

/**
 * Subscribes to `query` on `target` as `token`'s caller (null: no authorization at all), on a
 * connection of its own that is never retried, so a close is seen as the gateway sent it.
 * A null `query` opens the connection alone. The caller disposes of `client`.
 */
export function watch(
  target: TestGateway,
  token: string | null,
  variables: Record<string, unknown> = {},
  query: string | null = SUBSCRIBE_IDENTITY_EVENTS,
): Watch {
  const changed = new Set<() => void>();
  const notify = () => {
    for (const listener of changed) listener();
  };
  const state: Watch = {
    acknowledged: false,
    events: [],
    errors: [],
    completed: false,
    closed: null,
    client: createClient({
      url: target.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: token === null ? {} : { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      lazy: false,
      // How the connection closed is what the tests read (`closed`), not printed.
      onNonLazyError: () => {},
      on: {
        connected: () => {
          state.acknowledged = true;
          notify();
        },
        closed: (event) => {
          const { code, reason } = event as { code: number; reason: string };
          state.closed = { code, reason: String(reason) };
          notify();
        },
      },
    }),
    until(found, what, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const value = found();
          if (value === undefined || value === null || value === false) return;
          cleanup();
          resolve(value as never);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(
            new Error(
              `timed out waiting for ${what}: ${JSON.stringify({ events: state.events, errors: state.errors, closed: state.closed })}`,
            ),
          );
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          changed.delete(check);
        };
        changed.add(check);
        check();
      });
    },
  };
  if (query === null) return state;
  state.client.subscribe<{ identityEvents: StreamedEvent }>(
    { query, variables },
    {
      next: (result) => {
        if (result.data?.identityEvents) state.events.push(result.data.identityEvents);
        if (result.errors) state.errors.push(...(result.errors as Watch['errors']));
        notify();
      },
      // The gateway refused to run it (an `error` message): it ended too.
      error: (error) => {
        if (Array.isArray(error)) state.errors.push(...error);
        state.completed = true;
        notify();
      },
      complete: () => {
        state.completed = true;
        notify();
      },
    },
  );
  return state;
}

/** A subscription the gateway's stream has taken in: from now on, every commit reaches it. */
export async function subscribed(target: TestGateway, open: () => Watch): Promise<Watch> {
  const before = target.app.liveEvents.subscribers;
  const subscription = open();
  await vi.waitFor(() => expect(target.app.liveEvents.subscribers).toBeGreaterThan(before), { timeout: 10_000, interval: 20 });
  return subscription;
}
