import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { beforeEach, describe, expect, it } from 'vitest';
import { shouldMirrorClaims } from '../../auth/claims.js';
import type { Principal } from '../../auth/token-verifier.js';
import { UndoLog } from '../../journal/journal.js';
import type { RoleRecord } from '../roles/role.type.js';
import { UserMirror } from './user-mirror.js';
import type { UserRecord } from './user.type.js';
import { FakeUsersDirectory } from './users.directory.fake.js';
import { FakeUsersQueries } from './users.queries.fake.js';

let directory: FakeUsersDirectory;
let queries: FakeUsersQueries;
let mirror: UserMirror;
const editor: RoleRecord = { id: randomUUID(), name: 'role_editor', kind: 'ROLE', description: null };

beforeEach(() => {
  directory = new FakeUsersDirectory();
  queries = new FakeUsersQueries();
  queries.links.roles.set(editor.id, editor);
  mirror = new UserMirror({
    queries,
    links: queries.links,
    directories: () => directory,
    transactional: (work) => work({} as EntityManager),
  });
});

function principalOf(user: Pick<UserRecord, 'id' | 'email'>, overrides: Partial<Principal> = {}): Principal {
  const issuedAt = Math.floor(Date.now() / 1000);
  return {
    kind: 'person',
    clientId: 'frontend',
    userId: user.id,
    realm: 'iam',
    tenantRealm: null,
    roles: [],
    privileges: [],
    expiresAt: issuedAt + 300,
    username: user.email,
    email: user.email,
    firstName: 'Ada',
    lastName: 'Lovelace',
    emailVerified: true,
    issuedAt,
    ...overrides,
  };
}

describe('just-in-time mirroring', () => {
  it('mirrors a person Keycloak has and the mirror lacks, with the roles the mirror knows', async () => {
    const id = await directory.create(
      {
        username: 'ada@example.com',
        email: 'ada@example.com',
        firstName: 'Ada',
        lastName: 'Lovelace',
        enabled: true,
        emailVerified: true,
        attributes: {},
      },
      [editor, { id: randomUUID(), name: 'role_unknown_to_the_mirror' }],
      [],
      new UndoLog(),
    );

    const mirrored = await mirror.mirrorFromKeycloak(id, null);

    expect(mirrored).toMatchObject({ id, email: 'ada@example.com', syncStatus: 'SYNCED', realm: null });
    expect(queries.links.of(id)).toEqual({ roleIds: new Set([editor.id]), groupIds: new Set() });
  });

  it('remembers as deleted a person Keycloak no longer has, and never brings them back', async () => {
    const id = randomUUID();

    expect(await mirror.mirrorFromKeycloak(id, null)).toBeNull();
    expect(await mirror.wasDeleted(id)).toBe(true);

    const remote = directory.add({ id, email: 'back@example.com' });
    expect(await mirror.mirror({ ...remote })).toBe(false);
    expect(queries.users.has(id)).toBe(false);
  });

  it("writes a newer token's profile claims into the record, and nothing for a record that is gone", async () => {
    const id = await directory.create(
      {
        username: 'ada@example.com',
        email: 'ada@example.com',
        firstName: 'Ada',
        lastName: 'Lovelace',
        enabled: true,
        emailVerified: false,
        attributes: {},
      },
      [],
      [],
      new UndoLog(),
    );
    await mirror.mirrorFromKeycloak(id, null);

    const updated = await mirror.mirrorClaims(principalOf({ id, email: 'ada@example.com' }, { firstName: 'Augusta', emailVerified: true }));

    expect(updated).toMatchObject({ firstName: 'Augusta', emailVerified: true });
    expect(await mirror.mirrorClaims(principalOf({ id: randomUUID(), email: 'gone@example.com' }))).toBeNull();
  });
});

describe('shouldMirrorClaims', () => {
  const record = { username: 'ada@example.com', email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', emailVerified: true };
  const at = (seconds: number) => new Date(seconds * 1000);

  it('takes claims that differ from a token issued after the record was last written', () => {
    expect(
      shouldMirrorClaims(
        { ...record, updatedAt: at(100) },
        principalOf({ id: 'u', email: record.email }, { firstName: 'Augusta', issuedAt: 101 }),
      ),
    ).toBe(true);
  });

  it('keeps the record against an older token, one of the same second, or claims that do not differ', () => {
    const changed = (issuedAt: number) => principalOf({ id: 'u', email: record.email }, { firstName: 'Augusta', issuedAt });
    expect(shouldMirrorClaims({ ...record, updatedAt: at(100) }, changed(99))).toBe(false);
    expect(shouldMirrorClaims({ ...record, updatedAt: new Date(100_500) }, changed(100))).toBe(false);
    expect(shouldMirrorClaims({ ...record, updatedAt: at(100) }, principalOf({ id: 'u', email: record.email }, { issuedAt: 200 }))).toBe(
      false,
    );
  });
});
