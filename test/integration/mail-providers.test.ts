import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { prepareBackends } from '../../src/app.js';
import type { Config, SmtpConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { silentProgress } from '../../src/stack/progress.js';
import { type RunningSmtpCatcher, type SecuredSmtp, startSmtpCatcher } from '../../src/stack/smtp-catcher.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { passwordGrant } from '../support/keycloak.js';
import { createMailbox, extractLinks } from '../support/mailbox.js';

// Mail through catchers that behave like a real provider: AUTH required, and only over TLS.
// The gateway's realm here is one of its own, its SMTP settings provisioned from the
// configuration, so that Keycloak's own email goes through such a catcher too.

const CREATE_TENANT = 'mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } } }';
const INVITE = /* GraphQL */ `
  mutation($input: CreateInvitationInput!) { createInvitation(input: $input) { message token invitation { id status } } }
`;
const REGISTER = /* GraphQL */ `
  mutation($input: RegisterUserInput!) { registerUser(input: $input) { message user { id email syncStatus } } }
`;
const SETUP_EMAIL = 'mutation($id: ID!) { sendPasswordSetupEmail(userId: $id) { message } }';
const KEYCLOAK_ACTIONS = /update your account/i;

const certificate = inject('smtpCertificate');
const credentials = { user: 'iam-gateway@mail.test', password: `Smtp-${randomUUID()}` };
const wrongCredentials = { user: credentials.user, password: `Wrong-${randomUUID()}` };

const catchers: Partial<Record<SecuredSmtp['tls'], RunningSmtpCatcher>> = {};
let backends: IsolatedBackends;

/** The SMTP settings for the catcher speaking `tls`, trusting its certificate as SMTP_CA_FILE would. */
function smtpFor(tls: SecuredSmtp['tls'], smtpCredentials = credentials): SmtpConfig {
  const catcher = catchers[tls]!;
  return { host: '127.0.0.1', port: catcher.smtpPort, from: 'no-reply@mail.test', credentials: smtpCredentials, tls, ca: certificate.cert };
}

const withSmtp = (config: Config, smtp: SmtpConfig): Config => ({ ...config, smtp });

beforeAll(async () => {
  for (const tls of ['starttls', 'implicit'] as const) {
    // Port 0: each catcher binds a free port of its own, beside the shared plain one.
    catchers[tls] = await startSmtpCatcher({
      smtpPort: 0,
      httpPort: 0,
      secured: { tls, certificate, credentials },
      progress: silentProgress,
    });
  }
  backends = await isolatedBackends('mail', (config) => withSmtp(config, smtpFor('starttls')));
});
afterAll(async () => {
  await backends?.close();
  await Promise.all(Object.values(catchers).map((catcher) => catcher.stop()));
});

/** The bootstrap administrator's token in this file's realm. */
async function adminToken(): Promise<string> {
  const { email, password } = backends.config.bootstrapAdmin!;
  return (await passwordGrant(email, password, backends.realm)).access_token;
}

/** What the gateway logs at warn and above, through the real logger (redaction included). */
function capturedLog() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, log: createLogger({ level: 'warn' }, destination) };
}

describe("the gateway's invitation email through a provider that requires AUTH over TLS", () => {
  async function invite(gateway: TestGateway) {
    const token = await adminToken();
    const tenant = await gateway.graphql(CREATE_TENANT, { token, variables: { name: `Mail ${randomUUID().slice(0, 6)}` } });
    expect(tenant.errors).toBeUndefined();
    const email = `invitee-${randomUUID().slice(0, 8)}@example.test`;
    const response = await gateway.graphql(INVITE, {
      token,
      variables: { input: { tenantId: tenant.data!.createTenant.tenant.id, email } },
    });
    expect(response.errors).toBeUndefined();
    return { email, ...(response.data!.createInvitation as { message: string; token: string; invitation: { status: string } }) };
  }

  it.each(['starttls', 'implicit'] as const)('goes through with the right credentials over %s', async (tls) => {
    const gateway = await startTestGateway(() => withSmtp(backends.config, smtpFor(tls)));
    try {
      const { email, message, token } = await invite(gateway);
      expect(message).toBe(`Invitation sent to ${email}`);
      const mail = await createMailbox(catchers[tls]!.apiUrl).waitFor(email, { subject: /invited/ });
      expect(extractLinks(mail).some((link) => link.endsWith(`?token=${encodeURIComponent(token)}`))).toBe(true);
    } finally {
      await gateway.close();
    }
  });

  it('with wrong credentials is not sent: the invitation stands, the inviter is told, and the log has the refusal but no password', async () => {
    const { lines, log } = capturedLog();
    const gateway = await startTestGateway(() => withSmtp(backends.config, smtpFor('starttls', wrongCredentials)), { log });
    try {
      const { email, message, token, invitation } = await invite(gateway);
      // As for any other mail failure: created, and the token handed to the inviter instead.
      expect(message).toBe(`Invitation created for ${email}, but the email could not be sent: share the token yourself`);
      expect(token).toBeTruthy();
      expect(invitation.status).toBe('PENDING');
      const refusal = lines
        .map((line) => JSON.parse(line) as { msg: string; err?: { message: string } })
        .find((entry) => entry.msg === 'invitation email not sent');
      expect(refusal?.err?.message).toMatch(/Invalid login: 535 Authentication credentials invalid/);
      const logged = lines.join('\n');
      for (const password of [wrongCredentials.password, credentials.password]) {
        expect(logged).not.toContain(password);
        expect(logged).not.toContain(Buffer.from(password).toString('base64'));
        expect(logged).not.toContain(Buffer.from(`\0${credentials.user}\0${password}`).toString('base64'));
      }
      expect(await createMailbox(catchers.starttls!.apiUrl).list(email)).toEqual([]);
    } finally {
      await gateway.close();
    }
  });
});

describe("Keycloak's own email through the realm's provisioned SMTP settings (AUTH over STARTTLS)", () => {
  const mailbox = () => createMailbox(catchers.starttls!.apiUrl);
  // Keycloak reads its truststore when it starts: one started before the stack made the
  // catchers' certificate does not trust it, and sends nothing.
  const hint = 'If Keycloak refused the catcher, restart the local Keycloak so that it trusts the certificate (truststore-paths)';
  let gateway: TestGateway;
  let userId: string;
  let email: string;

  beforeAll(async () => {
    gateway = await startTestGateway(() => backends.config);
  });
  afterAll(() => gateway?.close());

  it('the password-setup email of a registered user arrives, sent with the configured credentials', async () => {
    email = `registered-${randomUUID().slice(0, 8)}@example.test`;
    const response = await gateway.graphql(REGISTER, {
      token: await adminToken(),
      variables: { input: { email, firstName: 'Mail', lastName: 'Provider' } },
    });
    expect(response.errors).toBeUndefined();
    // A mail failure makes the whole Keycloak write count as failed, kept for a later sync.
    expect(response.data!.registerUser.user.syncStatus, hint).toBe('SYNCED');
    userId = response.data!.registerUser.user.id;
    const mail = await mailbox().waitFor(email, { subject: KEYCLOAK_ACTIONS });
    expect(extractLinks(mail).find((link) => link.includes('/login-actions/action-token'))).toContain(`/realms/${backends.realm}/`);
  });

  it('a new SMTP password reaches Keycloak at the next provisioning, though Keycloak only ever shows it masked', async () => {
    expect(userId, 'the previous test registers the user').toBeDefined();
    const before = (await mailbox().list(email)).length;
    const send = async () => gateway.graphql(SETUP_EMAIL, { token: await adminToken(), variables: { id: userId } });

    await prepareBackends(withSmtp(backends.config, smtpFor('starttls', wrongCredentials)), createLogger({ level: 'silent' }));
    const refused = await send();
    expect(refused.errors?.[0]).toMatchObject({
      message: 'Keycloak could not send the email; nothing was changed.',
      extensions: { code: 'UPSTREAM_UNAVAILABLE' },
    });

    await prepareBackends(backends.config, createLogger({ level: 'silent' }));
    expect((await send()).errors).toBeUndefined();
    await expect.poll(async () => (await mailbox().list(email)).length).toBe(before + 1);
  });
});
