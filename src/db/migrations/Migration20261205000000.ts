import { Migration } from '@mikro-orm/migrations';

/**
 * Webhooks (src/modules/webhooks): endpoints and their deliveries.
 * - Signing secrets are stored sealed (AES-256-GCM, src/modules/webhooks/webhook-secrets.ts),
 *   never in clear; the previous one is kept, sealed, for the 24 hours of a rotation's overlap.
 * - `event_position` is how far along the identity-event outbox an endpoint's deliveries
 *   were made (events are read after it in commit order).
 * - A delivery's `seq` is its place in its endpoint's queue: deliveries are made in `seq`
 *   order, one at a time per endpoint; a redelivery takes a new `seq`, at the queue's end.
 */
export class Migration20261205000000 extends Migration {
  override name = 'Migration20261205000000';

  override up(): void | Promise<void> {
    this.addSql(`create table "webhook_endpoints" (
      "id" uuid primary key,
      "url" text not null,
      "description" text null,
      "event_types" text[] not null default '{}',
      "enabled" boolean not null default true,
      "sealed_secret" text not null,
      "sealed_previous_secret" text null,
      "previous_secret_until" timestamptz null,
      "event_position" bigint not null default 0,
      "consecutive_failures" int not null default 0,
      "disabled_reason" text null,
      "created_by" uuid null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null
    );`);
    this.addSql(`create sequence "webhook_delivery_seq";`);
    this.addSql(`create table "webhook_deliveries" (
      "id" uuid primary key,
      "endpoint_id" uuid not null references "webhook_endpoints" ("id") on delete cascade,
      "event_id" uuid not null,
      "event_position" bigint not null,
      "event_at" timestamptz not null,
      "seq" bigint not null default nextval('webhook_delivery_seq'),
      "status" varchar(16) not null default 'PENDING',
      "attempts" int not null default 0,
      "first_attempt_at" timestamptz null,
      "last_attempt_at" timestamptz null,
      "next_attempt_at" timestamptz null,
      "response_status" int null,
      "last_error" text null,
      "created_at" timestamptz not null,
      constraint "webhook_deliveries_endpoint_event_unique" unique ("endpoint_id", "event_id")
    );`);
    // The head of each endpoint's queue, and the due deliveries.
    this.addSql(`create index "webhook_deliveries_pending_idx" on "webhook_deliveries" ("endpoint_id", "seq") where "status" = 'PENDING';`);
    this.addSql(`create index "webhook_deliveries_due_idx" on "webhook_deliveries" ("next_attempt_at") where "status" = 'PENDING';`);
    // An endpoint's delivery log, newest first.
    this.addSql(`create index "webhook_deliveries_log_idx" on "webhook_deliveries" ("endpoint_id", "event_at" desc, "id" desc);`);
  }

  override down(): void | Promise<void> {
    this.addSql('drop table if exists "webhook_deliveries";');
    this.addSql('drop sequence if exists "webhook_delivery_seq";');
    this.addSql('drop table if exists "webhook_endpoints";');
  }
}
