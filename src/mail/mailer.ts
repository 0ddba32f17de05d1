import { rootCertificates } from 'node:tls';
import { createTransport } from 'nodemailer';
import type { SmtpConfig } from '../config.js';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/**
 * The gateway's own mail (invitations), sent through the same SMTP server Keycloak uses
 * for its password emails, so one mail setup serves both.
 */
export function createMailer(smtp: SmtpConfig): Mailer {
  const transport = createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.tls === 'implicit',
    // Without requireTLS a server that does not offer STARTTLS would get the password in clear.
    requireTLS: smtp.tls === 'starttls',
    // Plain means plain, as for Keycloak (starttls=false): no upgrade that a relay's
    // self-signed certificate would then fail.
    ignoreTLS: smtp.tls === 'none',
    auth: smtp.credentials && { user: smtp.credentials.user, pass: smtp.credentials.password },
    // Node's `ca` replaces the public authorities: keep them, and add the configured ones.
    tls: smtp.ca ? { ca: [...rootCertificates, smtp.ca] } : undefined,
  });
  return {
    async send(mail) {
      await transport.sendMail({ from: smtp.from, ...mail });
    },
    close: () => transport.close(),
  };
}
