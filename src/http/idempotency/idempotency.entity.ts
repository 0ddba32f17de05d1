import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';

export type IdempotencyStatus = 'IN_PROGRESS' | 'DONE';

/**
 * A mutation sent with an Idempotency-Key: which request it was (a hash) and, once done,
 * the answer it got, replayed to a repeat of the same request until `expiresAt`.
 */
@Entity({ tableName: 'idempotency_keys' })
@Index({ properties: ['expiresAt'] })
export class IdempotencyKeyEntity {
  [OptionalProps]?: 'response' | 'createdAt';

  /** Who sent it: the user id (anonymous callers cannot send a key). Keys are scoped per caller. */
  @PrimaryKey({ length: 255 })
  caller: string;

  @PrimaryKey({ length: 255 })
  key: string;

  /** HMAC-SHA256 of the operation, its name and its variables (src/http/idempotency/idempotency.plugin.ts). */
  @Property({ length: 64 })
  requestHash: string;

  @Property({ type: 'string', length: 16 })
  status: IdempotencyStatus;

  /** The GraphQL response body as first sent: never one holding a token (NOT_REPLAYABLE). */
  @Property({ type: 'json', nullable: true })
  response: Record<string, unknown> | null = null;

  @Property({ type: 'timestamptz' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz' })
  expiresAt: Date;
}
