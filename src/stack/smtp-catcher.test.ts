import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMailbox, extractLinks } from '../../test/support/mailbox.js';
import type { SmtpConfig } from '../config.js';
import { createMailer } from '../mail/mailer.js';
import { silentProgress, StackError } from './progress.js';
import { type RunningSmtpCatcher, type SecuredSmtp, startSmtpCatcher } from './smtp-catcher.js';
import { localSmtpCertificate, type SmtpCertificate } from './smtp-certificate.js';

const resetLink = 'http://localhost:8180/realms/iam/login-actions/action-token?key=eyJhbGciOi.abc-def_123&client_id=iam-frontend';

/** A Keycloak-like reset email: quoted-printable text part (soft line breaks, =3D, UTF-8) and an HTML part. */
function resetEmail(to: string): string {
  return [
    'From: Keycloak <no-reply@iam-gateway.local>',
    `To: ${to}`,
    'Subject: =?UTF-8?Q?Passwort_zur=C3=BCcksetzen?=',
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="b1"',
    '',
    '--b1',
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Gr=C3=BC=C3=9Fe! Someone asked to reset your password:',
    '',
    'http://localhost:8180/realms/iam/login-actions/action-token?key=3DeyJhbGciOi.a=',
    'bc-def_123&client_id=3Diam-frontend',
    '',
    'This link expires in 12 minutes.',
    '--b1',
    'Content-Type: text/html; charset=UTF-8',
    '',
    `<p>Someone asked to reset your password: <a href="${resetLink.replace('&', '&amp;')}">reset it</a>.</p>`,
    '--b1--',
  ].join('\r\n');
}

/** Speaks SMTP over a raw socket, checking every reply code. */
async function sendMail(port: number, envelope: { from: string; to: string[] }, message: string): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  const lines = createInterface({ input: socket })[Symbol.asyncIterator]();
  const reply = async (expected: number) => {
    let line: string;
    do {
      const next = await lines.next();
      if (next.done) throw new Error(`connection closed while waiting for ${expected}`);
      line = next.value;
    } while (/^\d{3}-/.test(line));
    expect(line).toMatch(new RegExp(`^${expected} `));
  };
  const command = async (text: string, expected: number) => {
    socket.write(`${text}\r\n`);
    await reply(expected);
  };
  try {
    await reply(220);
    await command('EHLO test.local', 250);
    await command(`MAIL FROM:<${envelope.from}>`, 250);
    for (const to of envelope.to) await command(`RCPT TO:<${to}>`, 250);
    await command('DATA', 354);
    const dotStuffed = message.replace(/^\./gm, '..');
    await command(`${dotStuffed}\r\n.`, 250);
    await command('QUIT', 221);
  } finally {
    socket.destroy();
  }
}

describe('SMTP catcher', () => {
  let catcher: RunningSmtpCatcher;
  let mailbox: ReturnType<typeof createMailbox>;

  beforeAll(async () => {
    catcher = await startSmtpCatcher({ smtpPort: 0, httpPort: 0, progress: silentProgress });
    mailbox = createMailbox(catcher.apiUrl);
  });
  afterAll(() => catcher?.stop());
  beforeEach(() => mailbox.clear());

  it('catches a multi-part email sent over SMTP and serves it decoded', async () => {
    expect(catcher.startedHere).toBe(true);
    await sendMail(catcher.smtpPort, { from: 'no-reply@iam-gateway.local', to: ['alice@example.test'] }, resetEmail('alice@example.test'));

    const message = await mailbox.waitFor('alice@example.test', { subject: /zurücksetzen/ });
    expect(message).toMatchObject({ from: 'no-reply@iam-gateway.local', to: ['alice@example.test'], subject: 'Passwort zurücksetzen' });
    expect(message.text).toContain('Grüße!');
    expect(message.text).toContain(resetLink);
    expect(message.html).toContain('reset it</a>');
    expect(extractLinks(message)).toEqual([resetLink]);
  });

  it('filters by recipient, case-insensitively, newest first', async () => {
    await sendMail(catcher.smtpPort, { from: 'a@example.test', to: ['Alice@Example.test'] }, resetEmail('Alice@Example.test'));
    await sendMail(
      catcher.smtpPort,
      { from: 'a@example.test', to: ['bob@example.test', 'carol@example.test'] },
      resetEmail('bob@example.test'),
    );

    expect((await mailbox.list('alice@EXAMPLE.test')).map((m) => m.to)).toEqual([['Alice@Example.test']]);
    expect((await mailbox.list('carol@example.test')).map((m) => m.to)).toEqual([['bob@example.test', 'carol@example.test']]);
    expect((await mailbox.list()).map((m) => m.to[0])).toEqual(['bob@example.test', 'Alice@Example.test']);
    await mailbox.clear();
    expect(await mailbox.list()).toEqual([]);
  });

  it('waitFor fails naming the messages that did arrive', async () => {
    await sendMail(catcher.smtpPort, { from: 'a@example.test', to: ['bob@example.test'] }, resetEmail('bob@example.test'));
    await expect(mailbox.waitFor('dave@example.test', { timeoutMs: 300 })).rejects.toThrow(
      /No message to dave@example.test arrived within 300 ms\. Newest messages caught:\n.* to bob@example.test: "Passwort zurücksetzen"/,
    );
  });

  it('is reused, not restarted, when its API already answers on the HTTP port', async () => {
    const second = await startSmtpCatcher({ smtpPort: 0, httpPort: catcher.httpPort, progress: silentProgress });
    expect(second).toMatchObject({ startedHere: false, smtpPort: catcher.smtpPort, apiUrl: catcher.apiUrl });
    await second.stop();
    expect(await mailbox.list()).toEqual([]);
  });

  it('refuses to listen beyond loopback, since the messages hold password-reset links', async () => {
    await expect(startSmtpCatcher({ smtpPort: 0, httpPort: 0, host: '0.0.0.0', progress: silentProgress })).rejects.toThrow(StackError);
  });
});

describe('SMTP catcher that requires AUTH over TLS, with the gateway mailer as client', () => {
  const credentials = { user: 'mailer@iam-gateway.local', password: 'Catcher-Passw0rd!' };
  let cacheDir: string;
  let certificate: SmtpCertificate;
  const started: RunningSmtpCatcher[] = [];

  beforeAll(async () => {
    cacheDir = mkdtempSync(join(tmpdir(), 'smtp-catcher-'));
    certificate = await localSmtpCertificate(cacheDir);
  });
  afterAll(async () => {
    await Promise.all(started.map((catcher) => catcher.stop()));
    rmSync(cacheDir, { recursive: true, force: true });
  });

  async function securedCatcher(tls: SecuredSmtp['tls']) {
    const catcher = await startSmtpCatcher({
      smtpPort: 0,
      httpPort: 0,
      secured: { tls, certificate, credentials },
      progress: silentProgress,
    });
    started.push(catcher);
    return catcher;
  }

  /** Sends one message through the gateway's mailer, trusting the catcher's certificate. */
  async function send(port: number, smtp: Partial<SmtpConfig>): Promise<string> {
    const to = `${randomUUID()}@example.test`;
    const mailer = createMailer({
      host: '127.0.0.1',
      port,
      from: 'no-reply@iam-gateway.local',
      tls: 'none',
      ca: certificate.cert,
      ...smtp,
    });
    try {
      await mailer.send({ to, subject: 'Hello', text: 'Over TLS' });
    } finally {
      mailer.close();
    }
    return to;
  }

  it.each(['starttls', 'implicit'] as const)('takes mail with the right credentials over %s', async (tls) => {
    const catcher = await securedCatcher(tls);
    const to = await send(catcher.smtpPort, { credentials, tls });
    expect(await createMailbox(catcher.apiUrl).waitFor(to)).toMatchObject({ subject: 'Hello', text: expect.stringContaining('Over TLS') });
  });

  it('refuses wrong credentials, and the error names neither password', async () => {
    const catcher = await securedCatcher('starttls');
    const wrong = { user: credentials.user, password: 'Wrong-Passw0rd!' };
    const error = await send(catcher.smtpPort, { credentials: wrong, tls: 'starttls' }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/Invalid login: 535/);
    const shown = JSON.stringify({ ...(error as object), message: (error as Error).message, stack: (error as Error).stack });
    for (const password of [wrong.password, credentials.password]) {
      expect(shown).not.toContain(password);
      expect(shown).not.toContain(Buffer.from(password).toString('base64'));
      expect(shown).not.toContain(Buffer.from(`\0${wrong.user}\0${password}`).toString('base64'));
    }
    expect(await createMailbox(catcher.apiUrl).list()).toEqual([]);
  });

  it('refuses AUTH before STARTTLS and mail before AUTH', async () => {
    const catcher = await securedCatcher('starttls');
    await expect(send(catcher.smtpPort, { credentials, tls: 'none' })).rejects.toThrow(/538 .*STARTTLS/);
    await expect(send(catcher.smtpPort, { tls: 'starttls' })).rejects.toThrow(/530 .*[Aa]uthentication [Rr]equired/);
    expect(await createMailbox(catcher.apiUrl).list()).toEqual([]);
  });

  it('the mailer set to STARTTLS sends nothing, credentials included, to a server that does not offer the upgrade', async () => {
    const plain = await startSmtpCatcher({ smtpPort: 0, httpPort: 0, progress: silentProgress });
    started.push(plain);
    await expect(send(plain.smtpPort, { credentials, tls: 'starttls' })).rejects.toThrow(/STARTTLS/);
    expect(await createMailbox(plain.apiUrl).list()).toEqual([]);
  });

  it('keeps the certificate it made in the cache folder, so a Keycloak started earlier still trusts it', async () => {
    expect(await localSmtpCertificate(cacheDir)).toEqual(certificate);
  });
});
