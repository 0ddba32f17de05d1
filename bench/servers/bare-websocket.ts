/**
 * Baseline of the subscription fan-out: a bare WebSocket server (the `ws` package the gateway
 * serves graphql-ws with) that, asked over IPC, sends one small message to every client
 * connected. No GraphQL, no outbox, no permission rule: the floor of sending one message to
 * a thousand sockets from one Node process on this machine.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { announce } from './child.js';

const server = createServer();
const sockets = new WebSocketServer({ server });
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
announce(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, (command) => {
  if (!command.startsWith('broadcast ')) throw new Error(`unknown command ${command}`);
  const message = command.slice('broadcast '.length);
  for (const socket of sockets.clients) socket.send(message);
  return sockets.clients.size;
});
