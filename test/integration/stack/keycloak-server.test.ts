import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { findNewestJava, KEYCLOAK_VERSION, requireMaven, startLocalKeycloak } from '../../../src/stack/keycloak-server.js';
import { silentProgress, StackError } from '../../../src/stack/progress.js';
import { freePort } from '../../../src/stack/free-port.js';
import { withDatabase } from '../../../src/stack/postgres.js';
import { startStack } from '../../../src/stack/stack.js';

const nowhere = { PATH: '/nonexistent' };

describe('the local Keycloak’s tools', () => {
  it('picks the newest JDK 17+ among those installed', () => {
    const home = findNewestJava();
    expect(home).toMatch(/jvm/);
  });

  it('says what to install when no Java is found', () => {
    const emptyJvmDir = mkdtempSync(join(tmpdir(), 'no-jvm-'));
    expect(() => findNewestJava({ env: nowhere, jvmDir: emptyJvmDir })).toThrow(StackError);
    expect(() => findNewestJava({ env: nowhere, jvmDir: emptyJvmDir })).toThrow(
      /needs Java 17 or newer.*apt-get install openjdk-17-jre-headless.*KEYCLOAK_URL/,
    );
  });

  it('says what to install when Maven is missing', () => {
    expect(() => requireMaven(nowhere)).toThrow(/`mvn` was not found.*apt-get install maven.*KEYCLOAK_URL/);
    expect(() => requireMaven()).not.toThrow();
  });
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the Keycloak the stack starts', () => {
  it('keeps its realms in PostgreSQL, as production runs it, its password out of the command line', async () => {
    // A kc.sh that writes down how it was started, then never becomes ready.
    const cacheDir = mkdtempSync(join(tmpdir(), 'stack-keycloak-'));
    const bin = join(cacheDir, `keycloak-${KEYCLOAK_VERSION}`, 'bin');
    mkdirSync(bin, { recursive: true });
    const started = join(cacheDir, 'started');
    writeFileSync(
      join(bin, 'kc.sh'),
      `#!/bin/sh\nfor arg in "$@"; do echo "$arg"; done > ${started}.tmp\necho "password=$KC_DB_PASSWORD" >> ${started}.tmp\nmv ${started}.tmp ${started}\nexec sleep 300\n`,
    );
    chmodSync(join(bin, 'kc.sh'), 0o755);
    const interrupted = new AbortController();
    try {
      const starting = startLocalKeycloak({
        cacheDir,
        httpPort: await freePort(),
        managementPort: await freePort(),
        bootstrapAdmin: { username: 'admin', password: 'admin' },
        databaseUrl: 'postgres://iam%40team:s3cret%2Fpw@127.0.0.1:5433/keycloak',
        progress: silentProgress,
        signal: interrupted.signal,
      });
      await expect.poll(() => existsSync(started), { timeout: 10_000 }).toBe(true);
      const lines = readFileSync(started, 'utf8').trim().split('\n');
      interrupted.abort();
      await expect(starting).rejects.toThrow('Interrupted');

      expect(lines).toContain('--db=postgres');
      expect(lines).toContain('--db-url=jdbc:postgresql://127.0.0.1:5433/keycloak');
      expect(lines).toContain('--db-username=iam@team');
      expect(lines).not.toContain('--db=dev-file');
      expect(lines.filter((line) => line.includes('s3cret'))).toEqual(['password=s3cret/pw']);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});

describe('the local stack', () => {
  it('gives Keycloak a database of its own on the gateway’s PostgreSQL server, created when missing', async () => {
    const suffix = randomBytes(4).toString('hex');
    const keycloakDatabase = `keycloak_probe_${suffix}`;
    // The Keycloak the tests run on answers on the stack's port: the stack reuses it, and still makes its database.
    const stack = await startStack({
      env: { ...process.env, KEYCLOAK_URL: undefined, DATABASE_URL: undefined, KEYCLOAK_DATABASE: keycloakDatabase },
      database: `stack_probe_${suffix}`,
      progress: silentProgress,
    });
    const server = new pg.Client({ connectionString: stack.env.DATABASE_URL });
    await server.connect();
    try {
      const found = await server.query('select datname from pg_database where datname = $1', [keycloakDatabase]);
      expect(found.rows).toEqual([{ datname: keycloakDatabase }]);
    } finally {
      await server.query(`drop database if exists ${keycloakDatabase} with (force)`);
      await server.end();
      await stack.stop();
      const admin = new pg.Client({ connectionString: withDatabase(stack.env.DATABASE_URL!, 'postgres') });
      await admin.connect();
      await admin.query(`drop database if exists stack_probe_${suffix} with (force)`);
      await admin.end();
    }
  });
});

describe('a Keycloak start interrupted by Ctrl-C', () => {
  it('stops the server it launched and says so, rather than leaving it running', async () => {
    // A distribution whose kc.sh never becomes ready: what matters is what happens to it.
    const cacheDir = mkdtempSync(join(tmpdir(), 'stack-keycloak-'));
    const bin = join(cacheDir, `keycloak-${KEYCLOAK_VERSION}`, 'bin');
    mkdirSync(bin, { recursive: true });
    const pidFile = join(cacheDir, 'kc.pid');
    writeFileSync(join(bin, 'kc.sh'), `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 300\n`);
    chmodSync(join(bin, 'kc.sh'), 0o755);
    const interrupted = new AbortController();
    try {
      const starting = startLocalKeycloak({
        cacheDir,
        httpPort: await freePort(),
        managementPort: await freePort(),
        bootstrapAdmin: { username: 'admin', password: 'admin' },
        databaseUrl: 'postgres://postgres@127.0.0.1:5432/keycloak',
        progress: silentProgress,
        signal: interrupted.signal,
      });
      await expect.poll(() => readFileSync(pidFile, 'utf8').trim(), { timeout: 10_000 }).toMatch(/^\d+$/);
      const pid = Number(readFileSync(pidFile, 'utf8'));
      expect(isRunning(pid)).toBe(true);

      interrupted.abort();

      await expect(starting).rejects.toThrow('Interrupted while Keycloak was starting; it was stopped again');
      expect(isRunning(pid)).toBe(false);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});
