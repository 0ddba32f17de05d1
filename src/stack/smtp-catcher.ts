import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo, Server } from 'node:net';
import PostalMime from 'postal-mime';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { StackError, type Progress } from './progress.js';

const SERVICE = 'smtp-catcher';
const KEPT_MESSAGES = 500;
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

/** One message as the catcher's HTTP API returns it. */
export interface CaughtMessage {
  id: string;
  /** ISO 8601. */
  receivedAt: string;
  /** The From header's address, else the envelope sender. */
  from: string;
  /** The envelope recipients (RCPT TO), so Bcc recipients are here too. */
  to: string[];
  subject: string;
  text: string;
  html: string;
}

export interface SmtpCatcherOptions {
  /** 0 picks a free port. */
  smtpPort: number;
  /** 0 picks a free port (and so never reuses a running catcher). */
  httpPort: number;
  /** A loopback address; default 127.0.0.1. */
  host?: string;
  /** Unset: plain SMTP without AUTH, as the development stack runs it. */
  secured?: SecuredSmtp;
  progress: Progress;
}

/**
 * A catcher that behaves like a mail provider: it takes mail only after AUTH with exactly
 * these credentials, and AUTH only over TLS, either upgraded with STARTTLS or from the
 * first byte (implicit, as on port 465).
 */
export interface SecuredSmtp {
  tls: 'starttls' | 'implicit';
  certificate: { cert: string; key: string };
  credentials: { user: string; password: string };
}

export interface RunningSmtpCatcher {
  /** The bound port, which differs from the requested one when reusing or when asked for 0. */
  smtpPort: number;
  httpPort: number;
  /** Base URL of the HTTP API: `GET /health`, `GET /messages?to=`, `DELETE /messages`. */
  apiUrl: string;
  /** True when this process started the catcher and so must stop it. */
  startedHere: boolean;
  stop(): Promise<void>;
}

/**
 * Brings up the development SMTP catcher: reuses one whose HTTP API already answers on
 * the port, else starts an SMTP server (no auth and no TLS unless `secured`) that keeps
 * the newest messages in memory and an HTTP API to read them. Both listen on loopback only.
 */
export async function startSmtpCatcher({
  smtpPort,
  httpPort,
  host = '127.0.0.1',
  secured,
  progress,
}: SmtpCatcherOptions): Promise<RunningSmtpCatcher> {
  // The API has no authentication and the messages hold password-reset links.
  if (!isLoopback(host)) {
    throw new StackError(`The SMTP catcher listens on loopback only; "${host}" is not a loopback address`);
  }
  if (httpPort !== 0) {
    const apiUrl = apiUrlOf(host, httpPort);
    const running = await findRunning(apiUrl);
    if (running) {
      progress.info(`SMTP catcher already running (SMTP on ${host}:${running.smtpPort}, API at ${apiUrl}): reusing it`);
      return { smtpPort: running.smtpPort, httpPort, apiUrl, startedHere: false, stop: async () => {} };
    }
  }
  return progress.step(
    'SMTP catcher',
    () => start(smtpPort, httpPort, host, secured),
    (catcher) => `SMTP on ${host}:${catcher.smtpPort}, messages at ${catcher.apiUrl}/messages`,
  );
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function apiUrlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

async function findRunning(apiUrl: string): Promise<{ smtpPort: number } | undefined> {
  try {
    const response = await fetch(`${apiUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const health = (await response.json()) as { service?: unknown; smtpPort?: unknown };
    return health.service === SERVICE && typeof health.smtpPort === 'number' ? { smtpPort: health.smtpPort } : undefined;
  } catch {
    return undefined;
  }
}

async function start(smtpPort: number, httpPort: number, host: string, secured?: SecuredSmtp): Promise<RunningSmtpCatcher> {
  const messages: CaughtMessage[] = [];
  const smtp = new SMTPServer({
    ...(secured ? securedOptions(secured) : { authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'] }),
    size: MAX_MESSAGE_BYTES,
    logger: false,
    // Do not hold the stack's shutdown for the default 30 s when a client keeps its connection.
    closeTimeout: 1000,
    onData(stream, session, callback) {
      receive(stream, session).then((message) => {
        messages.unshift(message);
        messages.length = Math.min(messages.length, KEPT_MESSAGES);
        callback();
      }, callback);
    },
  });
  // A client hanging up mid-session is no concern of a development catcher, and without
  // a listener the error would crash the process. Listen errors are reported by listen().
  smtp.on('error', () => {});
  const closeSmtp = () => new Promise<void>((resolve) => smtp.close(() => resolve()));
  const boundSmtpPort = await listen(smtp.server, smtpPort, host, 'SMTP');

  const http = createApi(messages, boundSmtpPort);
  let boundHttpPort: number;
  try {
    boundHttpPort = await listen(http, httpPort, host, 'HTTP');
  } catch (error) {
    await closeSmtp();
    throw error;
  }
  return {
    smtpPort: boundSmtpPort,
    httpPort: boundHttpPort,
    apiUrl: apiUrlOf(host, boundHttpPort),
    startedHere: true,
    async stop() {
      http.close();
      http.closeAllConnections();
      await Promise.all([once(http, 'close'), closeSmtp()]);
    },
  };
}

function securedOptions({ tls, certificate, credentials }: SecuredSmtp): SMTPServerOptions {
  return {
    secure: tls === 'implicit',
    ...certificate,
    // smtp-server refuses AUTH before TLS (allowInsecureAuth is off) and MAIL before AUTH.
    authOptional: false,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth({ username, password }, _session, callback) {
      if (username === credentials.user && password === credentials.password) return callback(null, { user: username });
      callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
  };
}

async function listen(server: Server, port: number, host: string, what: string): Promise<number> {
  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new StackError(
        `The SMTP catcher's ${what} port ${port} on ${host} is taken by another program: stop it or choose another port`,
      );
    }
    throw error;
  }
  return (server.address() as AddressInfo).port;
}

async function receive(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<CaughtMessage> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    // The stream runs to its end even past the limit; keep memory bounded meanwhile.
    if (!stream.sizeExceeded) chunks.push(chunk as Buffer);
  }
  if (stream.sizeExceeded) {
    throw Object.assign(new Error(`Message exceeds the ${MAX_MESSAGE_BYTES} bytes this catcher accepts`), {
      responseCode: 552,
    });
  }
  const email = await PostalMime.parse(Buffer.concat(chunks));
  const { mailFrom, rcptTo } = session.envelope;
  return {
    id: randomUUID(),
    receivedAt: new Date().toISOString(),
    from: email.from?.address ?? (mailFrom ? mailFrom.address : ''),
    to: rcptTo.map((recipient) => recipient.address),
    subject: email.subject ?? '',
    text: email.text ?? '',
    html: email.html ?? '',
  };
}

function createApi(messages: CaughtMessage[], smtpPort: number) {
  return createServer((request, response) => {
    const { pathname, searchParams } = new URL(request.url ?? '/', 'http://catcher');
    if (request.method === 'GET' && pathname === '/health') {
      return sendJson(response, 200, { service: SERVICE, smtpPort });
    }
    if (request.method === 'GET' && pathname === '/messages') {
      const to = searchParams.get('to')?.toLowerCase();
      const matching = to ? messages.filter((message) => message.to.some((address) => address.toLowerCase() === to)) : messages;
      return sendJson(response, 200, matching);
    }
    if (request.method === 'DELETE' && pathname === '/messages') {
      messages.length = 0;
      response.writeHead(204).end();
      return;
    }
    sendJson(response, 404, { error: `No route for ${request.method} ${pathname}` });
  });
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
