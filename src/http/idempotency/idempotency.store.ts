import type { EntityManager } from '@mikro-orm/postgresql';
import { selectRows } from '../../db/loaders.js';

export type Claim =
  | { kind: 'claimed' }
  | { kind: 'done'; response: Record<string, unknown> }
  | { kind: 'in-progress' }
  | { kind: 'different-request' };

/** A request still IN_PROGRESS after this long was abandoned (its process died): the key is free again. */
const ABANDONED_AFTER_MS = 120_000;

/**
 * Idempotency keys in PostgreSQL, so that every gateway process sees them: the first
 * request with a key claims it atomically (the primary key decides), a repeat finds its
 * answer, and an expired or abandoned key can be claimed anew.
 */
export class IdempotencyStore {
  constructor(
    private readonly em: EntityManager,
    private readonly ttlSeconds: number,
  ) {}

  async claim(caller: string, key: string, requestHash: string): Promise<Claim> {
    const now = new Date();
    const claimed = await this.em.execute(
      `insert into idempotency_keys (caller, key, request_hash, status, created_at, expires_at) values (?, ?, ?, 'IN_PROGRESS', ?, ?)
       on conflict (caller, key) do update
         set request_hash = excluded.request_hash, status = 'IN_PROGRESS', response = null,
             created_at = excluded.created_at, expires_at = excluded.expires_at
         where idempotency_keys.expires_at < ? or (idempotency_keys.status = 'IN_PROGRESS' and idempotency_keys.created_at < ?)
       returning key`,
      [caller, key, requestHash, now, new Date(now.getTime() + this.ttlSeconds * 1000), now, new Date(now.getTime() - ABANDONED_AFTER_MS)],
    );
    if (claimed.length > 0) return { kind: 'claimed' };
    const [existing] = await selectRows<{ requestHash: string; status: string; response: Record<string, unknown> | null }>(
      this.em,
      'select request_hash as "requestHash", status, response from idempotency_keys where caller = ? and key = ?',
      [caller, key],
    );
    // Released between the two statements: claim again.
    if (!existing) return this.claim(caller, key, requestHash);
    if (existing.requestHash !== requestHash) return { kind: 'different-request' };
    if (existing.status === 'DONE' && existing.response) return { kind: 'done', response: existing.response };
    return { kind: 'in-progress' };
  }

  /** Keeps the answer for repeats until the key expires. */
  async complete(caller: string, key: string, response: Record<string, unknown>): Promise<void> {
    await this.em.execute(`update idempotency_keys set status = 'DONE', response = ? where caller = ? and key = ?`, [
      JSON.stringify(response),
      caller,
      key,
    ]);
  }

  /** Forgets a key whose request changed nothing and may be retried (Keycloak away, an internal error). */
  async release(caller: string, key: string): Promise<void> {
    await this.em.execute(`delete from idempotency_keys where caller = ? and key = ? and status = 'IN_PROGRESS'`, [caller, key]);
  }
}
