import { setTimeout as delay } from 'node:timers/promises';
import type { CaughtMessage } from '../../src/stack/smtp-catcher.js';

export interface Mailbox {
  /** Newest first; only messages to `to` (case-insensitive) when given. */
  list(to?: string): Promise<CaughtMessage[]>;
  /** The newest message to `to` whose subject matches; polls until it arrives or the time is up. */
  waitFor(to: string, options?: { subject?: RegExp; timeoutMs?: number }): Promise<CaughtMessage>;
  clear(): Promise<void>;
}

/** A client of the SMTP catcher's HTTP API at `apiUrl`. */
export function createMailbox(apiUrl: string): Mailbox {
  async function call(method: 'GET' | 'DELETE', path: string): Promise<Response> {
    const response = await fetch(`${apiUrl}${path}`, { method });
    if (!response.ok) throw new Error(`${method} ${apiUrl}${path} answered ${response.status}`);
    return response;
  }

  async function list(to?: string): Promise<CaughtMessage[]> {
    const query = to === undefined ? '' : `?to=${encodeURIComponent(to)}`;
    return (await (await call('GET', `/messages${query}`)).json()) as CaughtMessage[];
  }

  return {
    list,
    async waitFor(to, { subject, timeoutMs = 15_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = (await list(to)).find((message) => !subject || subject.test(message.subject));
        if (found) return found;
        if (Date.now() >= deadline) break;
        await delay(200);
      }
      const newest = (await list()).slice(0, 10);
      const caught = newest.length
        ? `Newest messages caught:\n${newest.map((m) => `  ${m.receivedAt} to ${m.to.join(', ')}: "${m.subject}"`).join('\n')}`
        : 'The catcher holds no messages.';
      throw new Error(
        `No message to ${to}${subject ? ` with a subject matching ${subject}` : ''} arrived within ${timeoutMs} ms. ${caught}`,
      );
    },
    async clear() {
      await call('DELETE', '/messages');
    },
  };
}

/** The http(s) URLs in a message's text and HTML bodies, in order of appearance, without duplicates. */
export function extractLinks(message: Pick<CaughtMessage, 'text' | 'html'>): string[] {
  const found = `${message.text}\n${message.html}`.match(/https?:\/\/[^\s"'<>]+/g) ?? [];
  // Punctuation closing a sentence in the text body is not part of the link.
  return [...new Set(found.map((link) => link.replaceAll('&amp;', '&').replace(/[.,;:!?)]+$/, '')))];
}
