import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/** A certificate and its private key for SMTP over TLS on loopback, in PEM. */
export interface SmtpCertificate {
  /** The certificate's file, which the local Keycloak trusts (truststore-paths). */
  certFile: string;
  cert: string;
  key: string;
}

const VALID_DAYS = 5 * 365;
/** Renewed this long before it expires, so that no test run meets an expired one. */
const RENEW_DAYS = 30;

/**
 * The local stack's certificate for SMTP catchers that speak TLS, self-signed for
 * localhost, 127.0.0.1 and ::1. Made once into the cache folder and kept, because the
 * local Keycloak reads its truststore only when it starts: a new certificate at every run
 * would not be trusted by a Keycloak that an earlier run started. Generated in JavaScript
 * (selfsigned) rather than by an `openssl` command, which not every machine has. The
 * private key stays in the cache folder and is good for nothing beyond loopback.
 */
export async function localSmtpCertificate(cacheDir: string): Promise<SmtpCertificate> {
  const dir = join(cacheDir, 'smtp-tls');
  const existing = read(dir);
  if (existing && !expiresSoon(existing.cert)) return existing;

  const notBeforeDate = new Date();
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + VALID_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  // Written beside the final folder and renamed: a run that starts meanwhile finds both
  // files or neither, and when two runs race, the first rename wins and both use its pair.
  mkdirSync(cacheDir, { recursive: true });
  const writing = `${dir}-${process.pid}`;
  rmSync(writing, { recursive: true, force: true });
  mkdirSync(writing, { mode: 0o700 });
  writeFileSync(join(writing, 'key.pem'), pems.private, { mode: 0o600 });
  writeFileSync(join(writing, 'cert.pem'), pems.cert);
  if (existing) rmSync(dir, { recursive: true, force: true });
  try {
    renameSync(writing, dir);
  } catch {
    rmSync(writing, { recursive: true, force: true });
  }
  const written = read(dir);
  if (!written) throw new Error(`The SMTP catcher's certificate could not be written to ${dir}`);
  return written;
}

function read(dir: string): SmtpCertificate | undefined {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  if (!existsSync(certFile) || !existsSync(keyFile)) return undefined;
  return { certFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

function expiresSoon(cert: string): boolean {
  return new Date(new X509Certificate(cert).validTo).getTime() < Date.now() + RENEW_DAYS * 86_400_000;
}
