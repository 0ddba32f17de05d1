import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../errors.js';
import { FakeJournal } from '../../journal/journal.fake.js';
import type { UserRecord } from '../users/user.type.js';
import { createCredentialLoaders } from './credential.loader.js';
import { CredentialService, PASSWORD_NOT_REMOVABLE } from './credential.service.js';
import { FakeCredentialsDirectory } from './credentials.directory.fake.js';

let directory: FakeCredentialsDirectory;
let journal: FakeJournal;
let credentials: CredentialService;
let ada: UserRecord;
const ACTOR = randomUUID();

function userRecord(email: string): UserRecord {
  const now = new Date();
  return {
    id: randomUUID(),
    username: email,
    email,
    firstName: 'Ada',
    lastName: 'Lovelace',
    enabled: true,
    emailVerified: true,
    attributes: {},
    syncStatus: 'SYNCED',
    createdAt: now,
    updatedAt: now,
    realm: null,
  };
}

beforeEach(() => {
  directory = new FakeCredentialsDirectory();
  journal = new FakeJournal();
  ada = userRecord('ada@example.test');
  const users = [ada];
  credentials = new CredentialService({
    users: { findByIds: async (ids) => users.filter((user) => ids.includes(user.id)) },
    directories: () => directory,
    journal,
  });
});

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => 'no error',
    (error: unknown) => (error instanceof AppError ? error.code : String(error)),
  );

describe('removeUserCredential', () => {
  it("removes the user's last OTP device, asks the user to enrol again, ends their sessions, and audits the type only", async () => {
    directory.add(ada.id, 'password');
    const otp = directory.add(ada.id, 'otp', 'Phone');

    const { credential, enrolsAgain } = await credentials.remove(ada.id, otp.id, ACTOR);

    expect(credential.type).toBe('otp');
    expect(enrolsAgain).toBe(true);
    expect((await directory.list(ada.id)).map((c) => c.type)).toEqual(['password']);
    expect(directory.requiredActions.get(ada.id)).toEqual(['CONFIGURE_TOTP']);
    expect(directory.sessionsEnded).toEqual([ada.id]);
    expect(journal.entries).toEqual([
      {
        action: 'USER_CREDENTIAL_REMOVE',
        targetType: 'User',
        targetId: ada.id,
        actorId: ACTOR,
        details: { email: ada.email, credentialId: otp.id, credentialType: 'otp', requiredAction: 'CONFIGURE_TOTP' },
        status: 'SUCCEEDED',
      },
    ]);
  });

  it('asks for no enrolment while the user keeps another credential of the same kind', async () => {
    const first = directory.add(ada.id, 'webauthn', 'Key 1');
    directory.add(ada.id, 'webauthn', 'Key 2');

    expect((await credentials.remove(ada.id, first.id, ACTOR)).enrolsAgain).toBe(false);
    expect(directory.requiredActions.get(ada.id)).toBeUndefined();
    expect((await directory.list(ada.id)).map((c) => c.label)).toEqual(['Key 2']);
  });

  it('a passwordless passkey is re-enrolled through its own required action', async () => {
    const passkey = directory.add(ada.id, 'webauthn-passwordless');
    await credentials.remove(ada.id, passkey.id, ACTOR);
    expect(directory.requiredActions.get(ada.id)).toEqual(['webauthn-register-passwordless']);
  });

  it('refuses the password with BAD_USER_INPUT naming the way to replace it, and changes nothing', async () => {
    const password = directory.add(ada.id, 'password');

    const refusal = await credentials.remove(ada.id, password.id, ACTOR).then(
      () => undefined,
      (error: AppError) => error,
    );

    expect(refusal).toMatchObject({ code: 'BAD_USER_INPUT', message: PASSWORD_NOT_REMOVABLE });
    expect(PASSWORD_NOT_REMOVABLE).toContain('use setUserPassword or requireUserActions');
    expect(await directory.list(ada.id)).toEqual([password]);
    expect(journal.entries).toEqual([]);
    expect(directory.sessionsEnded).toEqual([]);
  });

  it("answers NOT_FOUND for an unknown credential, another user's, and an unknown user", async () => {
    const grace = userRecord('grace@example.test');
    const gracesOtp = directory.add(grace.id, 'otp');
    directory.add(ada.id, 'otp');

    expect(await codeOf(credentials.remove(ada.id, randomUUID(), ACTOR))).toBe('NOT_FOUND');
    expect(await codeOf(credentials.remove(ada.id, gracesOtp.id, ACTOR))).toBe('NOT_FOUND');
    expect(await codeOf(credentials.remove(randomUUID(), gracesOtp.id, ACTOR))).toBe('NOT_FOUND');
    expect(directory.credentials.get(grace.id)).toEqual([gracesOtp]);
    expect(journal.entries).toEqual([]);
  });

  it('refuses a kind of credential it does not manage', async () => {
    const codes = directory.add(ada.id, 'kerberos');
    expect(await codeOf(credentials.remove(ada.id, codes.id, ACTOR))).toBe('BAD_USER_INPUT');
  });

  it('takes back the required action when Keycloak refuses the removal', async () => {
    const otp = directory.add(ada.id, 'otp');
    directory.failNext('remove', Object.assign(new Error('HTTP 503'), { response: { status: 503 } }));

    expect(await codeOf(credentials.remove(ada.id, otp.id, ACTOR))).toBe('UPSTREAM_UNAVAILABLE');
    expect(directory.requiredActions.get(ada.id)).toEqual([]);
    expect(await directory.list(ada.id)).toEqual([otp]);
    expect(journal.entries.map((entry) => entry.status)).toEqual(['FAILED']);
  });
});

describe('requireUserActions', () => {
  it('adds the Keycloak required actions to those the user has, emails the link, and audits the actions', async () => {
    directory.requiredActions.set(ada.id, ['UPDATE_PASSWORD']);

    const { actions } = await credentials.requireActions(
      ada.id,
      ['CONFIGURE_TOTP', 'UPDATE_PASSWORD', 'WEBAUTHN_REGISTER', 'CONFIGURE_TOTP'],
      true,
      ACTOR,
    );

    expect(actions).toEqual(['CONFIGURE_TOTP', 'UPDATE_PASSWORD', 'WEBAUTHN_REGISTER']);
    expect(directory.requiredActions.get(ada.id)).toEqual(['UPDATE_PASSWORD', 'CONFIGURE_TOTP', 'webauthn-register']);
    expect(directory.emails).toEqual([
      { userId: ada.id, actions: ['CONFIGURE_TOTP', 'UPDATE_PASSWORD', 'webauthn-register'], lifespanSeconds: 86_400 },
    ]);
    expect(journal.entries).toMatchObject([
      {
        action: 'USER_REQUIRE_ACTIONS',
        targetId: ada.id,
        actorId: ACTOR,
        details: { email: ada.email, actions: ['CONFIGURE_TOTP', 'UPDATE_PASSWORD', 'WEBAUTHN_REGISTER'], sendEmail: true },
        status: 'SUCCEEDED',
      },
    ]);
  });

  it('sends nothing without sendEmail', async () => {
    await credentials.requireActions(ada.id, ['VERIFY_EMAIL', 'UPDATE_PROFILE'], false, ACTOR);
    expect(directory.requiredActions.get(ada.id)).toEqual(['VERIFY_EMAIL', 'UPDATE_PROFILE']);
    expect(directory.emails).toEqual([]);
  });

  it('refuses an empty list with BAD_USER_INPUT before anything is written', async () => {
    const refusal = await credentials.requireActions(ada.id, [], true, ACTOR).then(
      () => undefined,
      (error: AppError) => error,
    );
    expect(refusal).toMatchObject({ code: 'BAD_USER_INPUT', details: { fieldErrors: { actions: expect.any(String) } } });
    expect(journal.entries).toEqual([]);
  });

  it('answers NOT_FOUND for an unknown user', async () => {
    expect(await codeOf(credentials.requireActions(randomUUID(), ['VERIFY_EMAIL'], true, ACTOR))).toBe('NOT_FOUND');
    expect(journal.entries).toEqual([]);
  });

  it('takes the added actions back when Keycloak cannot send the email', async () => {
    directory.requiredActions.set(ada.id, ['VERIFY_EMAIL']);
    directory.failNext('sendActionsEmail', Object.assign(new Error('HTTP 400'), { response: { status: 400 } }));

    expect(await codeOf(credentials.requireActions(ada.id, ['CONFIGURE_TOTP'], true, ACTOR))).toBe('BAD_USER_INPUT');
    expect(directory.requiredActions.get(ada.id)).toEqual(['VERIFY_EMAIL']);
    expect(journal.entries.map((entry) => entry.status)).toEqual(['FAILED']);
  });
});

describe('the credentials loader', () => {
  it('asks Keycloak once per user and request, however often the request names the user', async () => {
    directory.add(ada.id, 'otp');
    const loaders = createCredentialLoaders(credentials);

    const answers = await Promise.all([loaders.credentialsByUser.load(ada), loaders.credentialsByUser.load({ ...ada })]);

    expect(answers.map((list) => list.map((c) => c.type))).toEqual([['otp'], ['otp']]);
    expect(directory.listCalls).toBe(1);
  });

  it("fails one user's field when Keycloak fails for that user, with UPSTREAM_UNAVAILABLE", async () => {
    const loaders = createCredentialLoaders(credentials);
    directory.failNext('list');
    expect(await codeOf(loaders.credentialsByUser.load(ada))).toBe('UPSTREAM_UNAVAILABLE');
  });
});
