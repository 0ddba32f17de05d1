import { pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * A pbkdf2 password hash as another system made it, with Node's crypto, in the shape
 * `importUsers` takes (`passwordHash`): Keycloak's pbkdf2 is HMAC-SHA1, pbkdf2-sha256 and
 * pbkdf2-sha512 the others. A fresh salt each time.
 */
export function pbkdf2Hash(password: string, digest: 'sha1' | 'sha256' | 'sha512' = 'sha256', iterations = 27500, keyLength = 32) {
  const salt = randomBytes(16);
  return {
    algorithm: digest === 'sha1' ? 'pbkdf2' : `pbkdf2-${digest}`,
    hash: pbkdf2Sync(password, salt, iterations, keyLength, digest).toString('base64'),
    salt: salt.toString('base64'),
    iterations,
  };
}
