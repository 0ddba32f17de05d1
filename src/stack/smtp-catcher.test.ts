import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMailbox, extractLinks } from '../../test/support/mailbox.js';
import { silentProgress, StackError } from './progress.js';
import { startSmtpCatcher, type RunningSmtpCatcher } from './smtp-catcher.js';

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
