import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AppError } from '../../errors.js';
import { FakeJournal } from '../../journal/journal.fake.js';
import type { UserRecord } from '../users/user.type.js';
import { SessionService } from './session.service.js';
import { CLOCK_SKEW_SECONDS, endWindow, verdictOn } from './sessions-end.js';
import { FakeSessionsDirectory } from './sessions.directory.fake.js';
import { FakeSessionsQueries } from './sessions.queries.fake.js';

const user = (realm: string | null = null): UserRecord => ({
  id: randomUUID(),
  username: 'ann@example.test',
  email: 'ann@example.test',
  firstName: 'Ann',
  lastName: 'Lee',
  enabled: true,
  emailVerified: true,
  attributes: {},
  syncStatus: 'SYNCED',
  createdAt: new Date(0),
  updatedAt: new Date(0),
  realm,
});

/** Keycloak's not-before second of the ends in these tests, and the gateway's clock around it. */
const N = 1_800_000_000;
let clock: number;

let directory: FakeSessionsDirectory;
let queries: FakeSessionsQueries;
let journal: FakeJournal;
let mirror: UserRecord[];
let realmsAsked: (string | null | undefined)[];
let sessions: SessionService;
const admin = randomUUID();

beforeEach(() => {
  directory = new FakeSessionsDirectory();
  queries = new FakeSessionsQueries();
  journal = new FakeJournal();
  mirror = [];
  realmsAsked = [];
  clock = N * 1000 + 400;
  sessions = new SessionService({
    directories: (realm) => {
      realmsAsked.push(realm);
      return directory;
    },
    queries,
    users: { findByIds: async (ids) => mirror.filter((known) => ids.includes(known.id)) },
    journal,
    // Each reading of the clock moves it on by 300 ms: the end takes that long.
    now: () => (clock += 300),
  });
});

const known = (realm: string | null = null) => {
  const someone = user(realm);
  mirror.push(someone);
  return someone;
};

const notFound = expect.objectContaining({ code: 'NOT_FOUND' }) as AppError;

describe('listing sessions', () => {
  it("lists a user's sessions from the directory of the realm the account lives in", async () => {
    const ann = known('tenant-realm');
    const online = directory.add(ann.id, { id: 's1' });
    const offline = directory.add(ann.id, { id: 's1:offline', offline: true, clients: ['reports'] });

    expect(await sessions.listOf(ann.id)).toEqual([online, offline]);
    expect(realmsAsked).toEqual(['tenant-realm']);
  });

  it('answers NOT_FOUND for an id the mirror does not know, without asking Keycloak', async () => {
    await expect(sessions.listOf(randomUUID())).rejects.toEqual(notFound);
    expect(realmsAsked).toEqual([]);
  });

  it('answers UPSTREAM_UNAVAILABLE when Keycloak cannot be reached', async () => {
    const ann = known();
    directory.failing = true;
    await expect(sessions.listOf(ann.id)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });
});

describe('ending sessions', () => {
  it('ends them in Keycloak through the journal, naming the actor, and records the window of tokens it refuses', async () => {
    const ann = known();
    directory.add(ann.id, { id: 's1' });
    directory.notBefore = N;

    await sessions.endAllOf(ann.id, admin);

    expect(directory.ended).toEqual([ann.id]);
    expect(journal.entries).toEqual([
      {
        action: 'USER_SESSIONS_END',
        targetType: 'User',
        targetId: ann.id,
        actorId: admin,
        details: { email: ann.email },
        status: 'SUCCEEDED',
      },
    ]);
    // The end took 300 ms: one second past Keycloak's not-before second is checked.
    expect(queries.ends.get(ann.id)).toEqual({
      refusedBefore: new Date(N * 1000),
      checkedUntil: new Date((N + 1) * 1000),
      endedAt: new Date(N * 1000 + 1000),
    });
  });

  it('answers NOT_FOUND for an unknown id before any write', async () => {
    await expect(sessions.endAllOf(randomUUID(), admin)).rejects.toEqual(notFound);
    expect(journal.entries).toEqual([]);
    expect(directory.ended).toEqual([]);
  });

  it('records nothing when Keycloak cannot be reached: FAILED in the journal, UPSTREAM_UNAVAILABLE to the caller', async () => {
    const ann = known();
    directory.failing = true;
    await expect(sessions.endAllOf(ann.id, admin)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(journal.entries).toMatchObject([{ action: 'USER_SESSIONS_END', status: 'FAILED' }]);
    expect(queries.ends.size).toBe(0);
  });

  it("without Keycloak's not-before second, takes the gateway's clock, widened for the clocks' difference", () => {
    expect(endWindow(null, N * 1000 + 400, N * 1000 + 700)).toEqual({
      refusedBefore: new Date((N - CLOCK_SKEW_SECONDS) * 1000),
      checkedUntil: new Date((N + 1 + CLOCK_SKEW_SECONDS) * 1000),
    });
  });

  it("a user's own sign-out everywhere is their own act in the journal", async () => {
    const ann = known();
    await sessions.endAll(ann, ann.id);
    expect(journal.entries).toMatchObject([{ action: 'USER_SESSIONS_END', targetId: ann.id, actorId: ann.id, status: 'SUCCEEDED' }]);
  });
});

describe('access tokens after an end', () => {
  const end = { refusedBefore: new Date(N * 1000), checkedUntil: new Date((N + 1) * 1000) };
  const token = (issuedAt: number, sessionId: string | null = 'new', clientId = 'iam-frontend') => ({ issuedAt, sessionId, clientId });

  it('refuses a token issued before the second of the end, and accepts one issued after the window, without asking Keycloak', async () => {
    const ann = known();
    directory.failing = true;
    expect(await sessions.survivesEnd(ann, token(N - 1), end)).toBe(false);
    expect(await sessions.survivesEnd(ann, token(N + 2), end)).toBe(true);
    expect(await sessions.survivesEnd(ann, token(N - 3600), null)).toBe(true);
    expect(verdictOn(N - 1, end)).toBe('refused');
    expect(verdictOn(N + 2, end)).toBe('accepted');
  });

  it('in the second of the end, refuses a token of a session the end removed and accepts a new sign-in', async () => {
    const ann = known();
    directory.add(ann.id, { id: 'old' });
    directory.notBefore = N;
    clock = N * 1000 + 100;
    await sessions.endAll(ann, admin);
    const [recorded] = await queries.endsOf([ann.id]);
    // The user signs in again within the same second.
    directory.add(ann.id, { id: 'new' });

    expect(await sessions.survivesEnd(ann, token(N, 'old'), recorded)).toBe(false);
    expect(await sessions.survivesEnd(ann, token(N, 'new'), recorded)).toBe(true);
    // A token naming no session cannot be told apart: refused.
    expect(await sessions.survivesEnd(ann, token(N, null), recorded)).toBe(false);
  });

  it('asks Keycloak once about a session for as long as the same end is kept: its answer cannot change', async () => {
    const ann = known();
    directory.add(ann.id, { id: 'new' });
    const kept = { ...end };
    for (let i = 0; i < 3; i++) expect(await sessions.survivesEnd(ann, token(N, 'new'), kept)).toBe(true);
    for (let i = 0; i < 3; i++) expect(await sessions.survivesEnd(ann, token(N, 'old'), kept)).toBe(false);
    expect(directory.livenessQuestions).toBe(2);
    // The same end read again (the cached caller dropped) is asked afresh.
    expect(await sessions.survivesEnd(ann, token(N, 'new'), { ...end })).toBe(true);
    expect(directory.livenessQuestions).toBe(3);
  });

  it("within the window, an offline token counts while its client's offline session lives", async () => {
    const ann = known();
    directory.add(ann.id, { id: 'kept:offline', offline: true, clients: ['reports'] });
    expect(await sessions.survivesEnd(ann, token(N + 1, 'kept', 'reports'), end)).toBe(true);
    expect(await sessions.survivesEnd(ann, token(N + 1, 'kept', 'other-client'), end)).toBe(false);
  });

  it('answers UPSTREAM_UNAVAILABLE rather than guess when Keycloak cannot say whether the session lives', async () => {
    const ann = known();
    directory.failing = true;
    await expect(sessions.survivesEnd(ann, token(N), end)).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  });
});
