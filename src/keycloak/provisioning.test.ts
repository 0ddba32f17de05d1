import { createHmac, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { smtpPasswordDigest } from './provisioning.js';

describe('the SMTP password digest kept in a realm', () => {
  const credentials = { user: 'mailer', password: 'smtp-secret' };

  it('tells a new SMTP password, user or realm from the one written before', () => {
    const digest = smtpPasswordDigest('iam', credentials, 'master-secret');
    expect(smtpPasswordDigest('iam', credentials, 'master-secret')).toBe(digest);
    expect(smtpPasswordDigest('iam', { ...credentials, password: 'another' }, 'master-secret')).not.toBe(digest);
    expect(smtpPasswordDigest('iam', { ...credentials, user: 'another' }, 'master-secret')).not.toBe(digest);
    expect(smtpPasswordDigest('other-realm', credentials, 'master-secret')).not.toBe(digest);
  });

  it('ATTACK-6: costs a memory-hard derivation per guess, not an HMAC, to whoever tests master-password guesses offline', () => {
    const digest = smtpPasswordDigest('iam', credentials, 'master-secret');
    const subject = `iam\n${credentials.user}\n${credentials.password}`;
    expect(digest).not.toBe(createHmac('sha256', 'master-secret').update(subject).digest('base64url'));
    // scrypt with N = 2^15 and r = 8: 32 MiB of memory for each guess.
    expect(digest).toBe(
      scryptSync('master-secret', subject, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }).toString('base64url'),
    );
  });
});
