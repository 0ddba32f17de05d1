import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** A new signing secret as the Standard Webhooks specification writes it: whsec_ and 32 random bytes in base64. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

const FORMAT = 'v1';

/**
 * Signing secrets at rest. They must be used again for every HMAC, so unlike passwords and
 * invitation tokens they cannot be kept as a hash: they are encrypted with AES-256-GCM
 * (node:crypto), each with a random 96-bit nonce, and bound to their endpoint (the endpoint's
 * id is the additional authenticated data: a ciphertext copied onto another row does not
 * decrypt). A table, a backup or a log of SQL parameters holds only `v1.<nonce>.<ciphertext>.<tag>`.
 *
 * The key is derived with HKDF-SHA256 from a secret of the server's configuration
 * (config.webhooks.secretKey: WEBHOOK_SECRET_KEY, else KEYCLOAK_API_CLIENT_SECRET, which every
 * deployment has and keeps out of the database, as the idempotency hashes do), under a label
 * of its own, so this key is unrelated to any other use of that secret.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(serverSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', serverSecret, '', 'iam-gateway webhook signing secrets', 32));
  }

  seal(secret: string, endpointId: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(endpointId));
    const sealed = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return [FORMAT, nonce, sealed, cipher.getAuthTag()]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
  }

  /** The secret, or undefined when the text was sealed under another key or for another endpoint. */
  open(sealed: string, endpointId: string): string | undefined {
    const [format, nonce, text, tag] = sealed.split('.');
    if (format !== FORMAT || !nonce || text === undefined || !tag) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(nonce, 'base64url'));
      decipher.setAAD(Buffer.from(endpointId));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(text, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
