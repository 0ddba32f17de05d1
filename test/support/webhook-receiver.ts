import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request the receiver took, verified with the standardwebhooks package. */
export interface ReceivedWebhook {
  /** webhook-id: the same on every attempt of one event to one endpoint. */
  id: string;
  timestamp: string;
  signatures: string[];
  /** The secrets (by index in `secrets`) each of which verifies the request alone. */
  verifiedBy: number[];
  body: { type: string; timestamp: string; data: Record<string, any> };
  /** What the receiver answered: an HTTP status, or 'held' for a request never answered. */
  answer: number | 'held';
  /** When the request had arrived and verified (performance.now(), the receiving process's clock): the bench's latencies. */
  receivedAt: number;
}

/** What the receiver does with the next request: answer this status, or hold it unanswered until released. */
export type Behaviour = number | 'hold';

/**
 * A webhook receiver as a product team would write one: a real HTTP server that verifies
 * every request with the `standardwebhooks` package (Standard Webhooks' reference library)
 * and the secrets it was given, refusing one that does not verify (401).
 */
export interface WebhookReceiver {
  url: string;
  port: number;
  /** The secrets it verifies with (any of them is enough); set after the endpoint is created. */
  secrets: string[];
  behaviour: Behaviour;
  /** Every request, in arrival order. */
  readonly received: ReceivedWebhook[];
  /** Called with each verified request as it arrives (the bench waits on it instead of polling). */
  onReceive?: (entry: ReceivedWebhook) => void;
  /** Requests that did not verify with any secret. */
  readonly unverified: number;
  /** The requests it answered 2xx, each webhook-id once: how a receiver drops duplicates. */
  accepted(): ReceivedWebhook[];
  /** Answers the held requests with this status (the sender may be gone already). */
  release(status?: number): void;
  /** How many requests it holds unanswered now. */
  readonly holding: number;
  /** Stops listening: the port refuses connections until `reopen`. */
  down(): Promise<void>;
  reopen(): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const held: ServerResponse[] = [];
  const sockets = new Set<Socket>();
  let unverified = 0;
  let server: Server;

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const payload = Buffer.concat(chunks).toString('utf8');
    const headers = {
      'webhook-id': String(request.headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(request.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(request.headers['webhook-signature'] ?? ''),
    };
    const verifiedBy = receiver.secrets.flatMap((secret, index) => {
      try {
        new Webhook(secret).verify(payload, headers);
        return [index];
      } catch {
        return [];
      }
    });
    if (verifiedBy.length === 0) {
      unverified++;
      response.writeHead(401).end();
      return;
    }
    const entry: ReceivedWebhook = {
      id: headers['webhook-id'],
      timestamp: headers['webhook-timestamp'],
      signatures: headers['webhook-signature'].split(' '),
      verifiedBy,
      body: JSON.parse(payload),
      answer: receiver.behaviour === 'hold' ? 'held' : receiver.behaviour,
      receivedAt: performance.now(),
    };
    received.push(entry);
    receiver.onReceive?.(entry);
    if (receiver.behaviour === 'hold') held.push(response);
    else response.writeHead(receiver.behaviour).end();
  };

  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      // A sender killed or cut mid-body ends the read of its request: nothing to answer then.
      server = createServer((request, response) => handle(request, response).catch(() => response.destroy()));
      server.on('connection', (socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  const port = await listen(0);
  const receiver: WebhookReceiver = {
    url: `http://127.0.0.1:${port}/hooks/identity`,
    port,
    secrets: [],
    behaviour: 204,
    received,
    get unverified() {
      return unverified;
    },
    accepted() {
      const seen = new Set<string>();
      return received.filter((entry) => {
        if (typeof entry.answer !== 'number' || entry.answer < 200 || entry.answer > 299 || seen.has(entry.id)) return false;
        seen.add(entry.id);
        return true;
      });
    },
    release(status = 204) {
      for (const response of held.splice(0)) if (!response.destroyed) response.writeHead(status).end();
    },
    get holding() {
      return held.length;
    },
    down: stop,
    async reopen() {
      await listen(port);
    },
    async close() {
      receiver.release();
      await stop();
    },
  };
  return receiver;
}
