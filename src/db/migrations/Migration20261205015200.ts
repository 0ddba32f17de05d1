import { Migration } from '@mikro-orm/migrations';

/**
 * The job leases go: the singleton jobs run as queues of the job engine (pg-boss, in its own
 * schema `pgboss`, which it creates and migrates itself), one run at a time by queue policy.
 */
export class Migration20261205015200 extends Migration {
  override name = 'Migration20261205015200';

  override up(): void {
    this.addSql('drop table if exists "job_leases";');
  }

  override down(): void {
    this.addSql(
      `create table "job_leases" ("name" varchar(64) not null, "holder" varchar(128) not null, "lease_until" timestamptz not null, "last_run_at" timestamptz null, primary key ("name"));`,
    );
  }
}
