/**
 * Times the README's run command, `npm run dev`, from its start until the gateway answers
 * `{ publicHello }`, then stops it with Ctrl-C (SIGINT) as a person would. Run by the
 * bench as a process of its own; prints one line `RESULT {...}`.
 *
 * With `isolated`, it runs inside a fresh network namespace (`unshare -n`): the ports the
 * stack uses (Keycloak 8180/9180, SMTP 1025/1080, gateway 4000) are free there, so a cold
 * stack starts beside the one already running, which it can neither see nor disturb.
 * PostgreSQL is reached through the bench's Unix socket bridge, on 127.0.0.1:5432.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

export interface DevStartOptions {
  cwd: string;
  env: Record<string, string>;
  port: number;
  logFile: string;
  timeoutMs: number;
  /** Inside a network namespace: bring loopback up and bridge 127.0.0.1:5432 to this socket. */
  isolated?: { postgresSocket: string; keycloakHome: string };
}

export interface DevStartResult {
  /** From spawning `npm run dev` to the first answer of the gateway. */
  readyMs?: number;
  /** What `npm run dev` itself printed as "Ready in N s" (the build before it not included). */
  reportedSeconds?: number;
  /** How long the stack waited for a Keycloak it started, as `npm run dev` printed it. */
  keycloakSeconds?: number;
  error?: string;
}

/** Plain TCP on 127.0.0.1:5432, piped to a Unix socket outside the namespace. */
function bridgePostgres(socketPath: string): Promise<Server> {
  const server = createServer((client) => {
    const upstream = createConnection({ path: socketPath });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(5432, '127.0.0.1', () => resolve(server));
  });
}

async function answers(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ publicHello }' }),
      signal: AbortSignal.timeout(2000),
    });
    return response.ok && Boolean(((await response.json()) as { data?: unknown }).data);
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Processes of the Keycloak this run started (its home is this run's own folder), should the stop have missed any. */
function leftoverKeycloak(home: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(`-Dkc.home.dir=${home}`)) pids.push(Number(entry));
    } catch {
      // Ended meanwhile.
    }
  }
  return pids;
}

export async function timeDevStart(options: DevStartOptions): Promise<DevStartResult> {
  let bridge: Server | undefined;
  if (options.isolated) {
    const up = spawnSync('ip', ['link', 'set', 'lo', 'up'], { encoding: 'utf8' });
    if (up.status !== 0) return { error: `could not bring loopback up in the namespace: ${up.stderr}` };
    bridge = await bridgePostgres(options.isolated.postgresSocket);
  }
  const log = openSync(options.logFile, 'w');
  const started = performance.now();
  const dev = spawn('npm', ['run', 'dev'], { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  let exited: number | null = null;
  dev.once('exit', (code) => (exited = code ?? -1));

  const result: DevStartResult = {};
  const deadline = started + options.timeoutMs;
  while (performance.now() < deadline) {
    if (exited !== null) {
      result.error = `npm run dev exited with ${exited} before the gateway answered; see ${options.logFile}`;
      break;
    }
    if (await answers(options.port)) {
      result.readyMs = performance.now() - started;
      break;
    }
    await delay(100);
  }
  if (result.readyMs === undefined && !result.error)
    result.error = `the gateway did not answer within ${options.timeoutMs / 1000} s; see ${options.logFile}`;

  // The cold Keycloak's data is thrown away: it need not shut down gracefully.
  const killKeycloak = () => {
    for (const pid of options.isolated ? leftoverKeycloak(options.isolated.keycloakHome) : []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  killKeycloak();
  // Ctrl-C: the gateway closes and the stack stops what it started.
  if (exited === null && dev.pid !== undefined) {
    const stopped = new Promise<void>((resolve) => dev.once('exit', () => resolve()));
    signalGroup(dev.pid, 'SIGINT');
    const forced = setTimeout(() => signalGroup(dev.pid!, 'SIGKILL'), 90_000);
    await stopped;
    clearTimeout(forced);
  }
  killKeycloak();
  bridge?.close();

  const output = readFileSync(options.logFile, 'utf8');
  const reported = /Ready in ([\d.]+) s/.exec(output);
  if (reported) result.reportedSeconds = Number(reported[1]);
  const keycloak = /✔ Keycloak on .*\(([\d.]+) s\)$/m.exec(output);
  if (keycloak) result.keycloakSeconds = Number(keycloak[1]);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await timeDevStart(JSON.parse(process.argv[2]!) as DevStartOptions);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}
