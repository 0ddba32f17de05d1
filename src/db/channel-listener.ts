import pg from 'pg';
import type { Logger } from '../logger.js';

export interface ChannelListener {
  close(): Promise<void>;
}

export interface ChannelListenerOptions {
  databaseUrl: string;
  /** A PostgreSQL identifier: the channel the database's triggers NOTIFY on. */
  channel: string;
  onMessage(payload: string): void;
  /**
   * True once LISTEN is in place; false when the connection is lost, after which
   * announcements may have been missed until the next true.
   */
  onListening(listening: boolean): void;
  log: Logger;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/**
 * LISTENs on a channel over a connection of its own (a pooled connection would be handed
 * to queries and miss notifications), reconnecting with backoff while the gateway runs.
 * TCP keep-alive finds a connection that died without a word.
 */
export function listenToChannel(options: ChannelListenerOptions): ChannelListener {
  const { channel, log } = options;
  let current: pg.Client | undefined;
  let listening = false;
  let closed = false;
  let retryMs = FIRST_RETRY_MS;
  let retry: NodeJS.Timeout | undefined;

  const lost = (client: pg.Client, error?: unknown) => {
    if (client !== current) return;
    current = undefined;
    client.end().catch(() => {});
    if (listening) {
      listening = false;
      options.onListening(false);
      log.warn({ err: error, channel }, 'lost the connection that listens for changes; reconnecting');
    } else if (!closed && retryMs === FIRST_RETRY_MS) {
      // The first failure of a streak is worth a warning; the retries after it are not.
      log.warn({ err: error, channel }, 'cannot listen for changes; retrying with backoff');
    }
    if (closed) return;
    retry = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  };

  const connect = async () => {
    retry = undefined;
    const client = new pg.Client({
      connectionString: options.databaseUrl,
      keepAlive: true,
      application_name: `iam-gateway listening on ${channel}`,
    });
    current = client;
    client.on('notification', (notification) => {
      if (notification.channel === channel) options.onMessage(notification.payload ?? '');
    });
    client.on('error', (error) => lost(client, error));
    client.on('end', () => lost(client));
    try {
      await client.connect();
      await client.query(`listen "${channel}"`);
      if (client !== current) return;
      listening = true;
      retryMs = FIRST_RETRY_MS;
      options.onListening(true);
    } catch (error) {
      lost(client, error);
    }
  };

  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      const client = current;
      current = undefined;
      if (listening) options.onListening(false);
      listening = false;
      await client?.end().catch(() => {});
    },
  };
}
