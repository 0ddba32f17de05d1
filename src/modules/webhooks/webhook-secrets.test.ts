import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { newSigningSecret, SecretBox } from './webhook-secrets.js';
import { signatureHeader } from './webhook-sender.js';
import { backoffMs } from './webhook.dispatcher.js';

describe('webhook signing secrets', () => {
  it('are whsec_ and 32 random bytes in base64', () => {
    const secret = newSigningSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(newSigningSecret()).not.toBe(secret);
  });

  it('are kept sealed: the text holds no trace of the secret and opens only with the same key and endpoint', () => {
    const secret = newSigningSecret();
    const box = new SecretBox('server secret');
    const sealed = box.seal(secret, 'endpoint-1');
    expect(sealed).not.toContain(secret.slice(6, 20));
    expect(sealed).not.toBe(box.seal(secret, 'endpoint-1'));
    expect(box.open(sealed, 'endpoint-1')).toBe(secret);
    expect(box.open(sealed, 'endpoint-2')).toBeUndefined();
    expect(new SecretBox('another server secret').open(sealed, 'endpoint-1')).toBeUndefined();
    expect(box.open(`${sealed.slice(0, -2)}AA`, 'endpoint-1')).toBeUndefined();
  });

  it('sign with every secret given, each signature verifying alone with the standardwebhooks package', () => {
    const [current, previous] = [newSigningSecret(), newSigningSecret()];
    const message = { id: 'msg_1', timestamp: new Date(), body: '{"type":"USER_CREATED"}' };
    const header = signatureHeader(message, [current, previous]);
    expect(header.split(' ')).toHaveLength(2);
    expect(header).toMatch(/^v1,\S+ v1,\S+$/);
    const headers = {
      'webhook-id': message.id,
      'webhook-timestamp': String(Math.floor(message.timestamp.getTime() / 1000)),
      'webhook-signature': header,
    };
    for (const secret of [current, previous]) expect(new Webhook(secret).verify(message.body, headers)).toEqual({ type: 'USER_CREATED' });
    expect(() => new Webhook(newSigningSecret()).verify(message.body, headers)).toThrow();
  });
});

describe('the wait between webhook attempts', () => {
  it('doubles from about 5 s, with jitter, up to 6 hours', () => {
    expect(backoffMs(1, () => 0)).toBe(2_500);
    expect(backoffMs(1, () => 1)).toBe(5_000);
    expect(backoffMs(2, () => 1)).toBe(10_000);
    expect(backoffMs(5, () => 0.5)).toBe(60_000);
    expect(backoffMs(40, () => 1)).toBe(6 * 3600_000);
  });

  it('retries for 3 days in about 25 attempts', () => {
    let elapsed = 0;
    let attempts = 0;
    while (elapsed < 72 * 3600_000) elapsed += backoffMs(++attempts, () => 1);
    expect(attempts).toBeGreaterThan(15);
    expect(attempts).toBeLessThan(30);
  });
});
