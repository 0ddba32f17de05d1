import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { checkedAddresses, hostOf, pinnedLookup, RefusedAddressError, type AddressPolicy, type Resolver } from './address-policy.js';

export interface SignedMessage {
  /** webhook-id: the same on every attempt of one event to one endpoint. */
  id: string;
  /** webhook-timestamp: when this attempt is signed. */
  timestamp: Date;
  body: string;
}

/**
 * The webhook-signature header: one `v1,<base64 HMAC-SHA256 of id.timestamp.body>` per
 * secret, separated by spaces, as the Standard Webhooks specification says; during a
 * rotation's overlap a receiver holding either secret verifies. Signed by the `standardwebhooks`
 * package, the specification's reference implementation.
 */
export function signatureHeader(message: SignedMessage, secrets: readonly string[]): string {
  return secrets.map((secret) => new Webhook(secret).sign(message.id, message.timestamp, message.body)).join(' ');
}

export interface AttemptResult {
  ok: boolean;
  /** The answer's HTTP status, when one came. */
  status?: number;
  /** Why the attempt failed, in words safe to store and show (no body of the answer, no secret). */
  error?: string;
}

export interface SendOptions {
  timeoutMs: number;
  policy: AddressPolicy;
  resolve?: Resolver;
}

/**
 * One POST of a signed message. The connection goes to addresses checked under the policy
 * (src/modules/webhooks/address-policy.ts): an IP literal is checked here, a name inside the
 * connection's own lookup. Redirects are not followed (a 3xx is a failure, like any answer
 * but 2xx); the answer's body is never read; the whole exchange has `timeoutMs`.
 */
export async function sendWebhook(target: string, message: SignedMessage, signature: string, options: SendOptions): Promise<AttemptResult> {
  const url = new URL(target);
  try {
    if (isIP(hostOf(url))) await checkedAddresses(url, options.policy, options.resolve);
  } catch (error) {
    return { ok: false, error: refusal(error) };
  }
  const client = url.protocol === 'https:' ? https : http;
  const signal = AbortSignal.timeout(options.timeoutMs);
  return new Promise<AttemptResult>((resolve) => {
    const request = client.request(
      url,
      {
        method: 'POST',
        agent: false,
        lookup: pinnedLookup(options.policy, options.resolve),
        signal,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(message.body),
          'user-agent': 'iam-gateway-webhooks',
          'webhook-id': message.id,
          'webhook-timestamp': String(Math.floor(message.timestamp.getTime() / 1000)),
          'webhook-signature': signature,
        },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        response.destroy();
        resolve(status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status, error: `answered HTTP ${status}` });
      },
    );
    request.on('error', (error) => {
      resolve({ ok: false, error: signal.aborted ? `no answer within ${options.timeoutMs / 1000} s` : refusal(error) });
    });
    request.end(message.body);
  });
}

function refusal(error: unknown): string {
  if (error instanceof RefusedAddressError) return `refused: the host ${error.message}`;
  const { code, message } = error as NodeJS.ErrnoException;
  return code ? `connection failed (${code})` : `connection failed (${message})`;
}
