import { createHmac, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isActive, OTP_FORM, smtpPasswordDigest } from './provisioning.js';

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

describe('whether a browser flow asks for an OTP code', () => {
  // Keycloak 26.7's default browser flow, as its executions endpoint lists it (depth first).
  const defaultFlow = (changes: Record<string, string> = {}) =>
    [
      { displayName: 'Cookie', level: 0, requirement: 'ALTERNATIVE' },
      { displayName: 'Organization', level: 0, requirement: 'ALTERNATIVE' },
      { displayName: 'Browser - Conditional Organization', level: 1, requirement: 'CONDITIONAL' },
      { displayName: 'Organization Identity-First Login', level: 2, requirement: 'ALTERNATIVE' },
      { displayName: 'forms', level: 0, requirement: 'ALTERNATIVE' },
      { displayName: 'Username Password Form', level: 1, requirement: 'REQUIRED' },
      { displayName: 'Browser - Conditional 2FA', level: 1, requirement: 'CONDITIONAL' },
      { displayName: 'Condition - user configured', level: 2, requirement: 'REQUIRED' },
      { displayName: 'OTP Form', providerId: OTP_FORM, level: 2, requirement: 'ALTERNATIVE' },
      { displayName: 'WebAuthn Authenticator', level: 2, requirement: 'DISABLED' },
    ].map((execution) => ({ ...execution, requirement: changes[execution.displayName] ?? execution.requirement }));
  const otpAt = 8;

  it("asks in Keycloak's default flow", () => {
    expect(isActive(defaultFlow(), otpAt)).toBe(true);
  });

  it('asks not when the OTP form, or any sub-flow it sits in, is disabled', () => {
    expect(isActive(defaultFlow({ 'OTP Form': 'DISABLED' }), otpAt)).toBe(false);
    expect(isActive(defaultFlow({ 'Browser - Conditional 2FA': 'DISABLED' }), otpAt)).toBe(false);
    expect(isActive(defaultFlow({ forms: 'DISABLED' }), otpAt)).toBe(false);
  });

  it('is not swayed by a disabled execution beside its sub-flows', () => {
    expect(isActive(defaultFlow({ Organization: 'DISABLED', 'WebAuthn Authenticator': 'DISABLED', Cookie: 'DISABLED' }), otpAt)).toBe(true);
  });
});
