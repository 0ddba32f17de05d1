import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadOptions, LoadResult } from './load.js';

/** Where the bench's child processes write their output: kept out of the work tree. */
export const LOG_DIR = join(tmpdir(), 'iam-gateway-bench');

export interface ServerProcess {
  name: string;
  url: string;
  /** Asks the server something over IPC (statement counts). */
  command(command: string): Promise<unknown>;
  stop(): Promise<void>;
}

const entry = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

/** Forks one of bench/servers/*, on the same Node as the bench, and waits until it listens. */
export async function startServer(
  name: 'gateway' | 'bare-apollo' | 'pg-dataloader' | 'keycloak-admin' | 'bare-websocket',
  env: Record<string, string | undefined>,
): Promise<ServerProcess> {
  mkdirSync(LOG_DIR, { recursive: true });
  const logFile = join(LOG_DIR, `${name}.log`);
  const log = openSync(logFile, 'a');
  // BENCH_CPU_PROFILE_DIR=<dir> writes each server's V8 CPU profile there when it stops (open it in
  // Chrome's DevTools): where a workload's server time goes. NODE_OPTIONS may not carry --cpu-prof.
  const profileDir = process.env.BENCH_CPU_PROFILE_DIR;
  const child = fork(entry(`./servers/${name}.js`), [], {
    env: { ...env, NODE_ENV: 'production' },
    stdio: ['ignore', log, log, 'ipc'],
    execArgv: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${name}.cpuprofile`] : process.execArgv,
  });
  closeSync(log);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 60 s; see ${logFile}`)), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} while starting; see ${logFile}`));
    });
    child.on('message', (message: { type?: string; url?: string }) => {
      if (message.type === 'ready') {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve(message.url!);
      }
    });
  });

  let next = 0;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  child.on('message', (message: { id?: number; result?: unknown; error?: string }) => {
    const waiting = message.id === undefined ? undefined : pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id!);
    if (message.error) waiting.reject(new Error(message.error));
    else waiting.resolve(message.result);
  });
  return {
    name,
    url,
    command: (command) =>
      new Promise((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve, reject });
        child.send({ id, command });
      }),
    stop: () => stopChild(child),
  };
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const forced = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(forced);
}

export interface MeasuredLoad extends LoadResult {
  /** CPU time the server process spent per successful request, in milliseconds. */
  serverCpuMs: number;
}

/** Runs the load against `server` and adds what the server's process spent on it in CPU time. */
export async function measureLoad(server: ServerProcess, options: LoadOptions): Promise<MeasuredLoad> {
  const before = Number(await server.command('cpu'));
  const result = await runLoad(options);
  const after = Number(await server.command('cpu'));
  return { ...result, serverCpuMs: (after - before) / 1000 / Math.max(1, result.requests) };
}

/** Runs autocannon in a process of its own and returns what it measured. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  const child = fork(entry('./load.js'), [JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let answer: { result?: LoadResult; error?: string } | undefined;
    child.on('message', (message: { result?: LoadResult; error?: string }) => (answer = message));
    child.once('exit', (code) => {
      if (answer?.result) resolve(answer.result);
      else reject(new Error(`the load generator failed (exit ${code}): ${answer?.error ?? 'no result'}`));
    });
  });
}
