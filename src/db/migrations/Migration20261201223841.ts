import { Migration } from '@mikro-orm/migrations';

/**
 * Idempotency keys no longer keep answers holding secrets (M1 of the December 2026 review):
 * the rows stored before that go. An anonymous key's row, or an answer holding a JWT
 * (access and refresh tokens start `eyJ`) or a 43-character base64url string (an
 * invitation's secret), is deleted; a repeat of such a request simply runs again.
 */
export class Migration20261201223841 extends Migration {
  override name = 'Migration20261201223841';

  override up(): void | Promise<void> {
    this.addSql(`delete from "idempotency_keys"
      where "caller" = 'anonymous' or "response"::text ~ '"eyJ' or "response"::text ~ '"[A-Za-z0-9_-]{43}"';`);
  }

  override down(): void | Promise<void> {
    // What was deleted is gone for good, as it should be.
  }
}
