import pg from 'pg';
import { prepareBackends } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/database.js';
import { migrate } from '../../src/db/orm.js';
import { frontendClient, provisionRealm } from '../../src/keycloak/provisioning.js';
import { createLogger } from '../../src/logger.js';
import type { Progress } from '../../src/stack/progress.js';
import { ensureDatabase, withDatabase } from '../../src/stack/postgres.js';
import { KeycloakAdminRest, masterAdminToken } from '../keycloak.js';
import { SCALE_ADMIN, seedKeycloak } from './keycloak.js';
import { seededMark, seedMark, seedMirror } from './mirror.js';

export const SCALE_REALM = 'iam-bench-scale';
export const SIZES = { '10k': 10_000, '100k': 100_000, '1m': 1_000_000 } as const;
export type SizeLabel = keyof typeof SIZES;

export function scaleDatabase(label: SizeLabel): string {
  return `iam_gateway_scale_${label}`;
}

export interface ScaleSetup {
  /** The environment for the gateway of each size: realm iam-bench-scale, that size's database. */
  envOf: (label: SizeLabel) => Record<string, string | undefined>;
  configOf: (label: SizeLabel) => Config;
  admin: KeycloakAdminRest;
  work: string[];
}

/**
 * Keycloak's scale realm (10,000 users), then each size's mirror: created and seeded once,
 * reused while its comment says it holds that seed.
 */
export async function prepareScale(
  stackEnv: Record<string, string | undefined>,
  labels: SizeLabel[],
  progress: Progress,
): Promise<ScaleSetup> {
  const work: string[] = [];
  const baseUrl = loadConfig(stackEnv).databaseUrl;
  const envOf = (label: SizeLabel) => ({
    ...stackEnv,
    KEYCLOAK_REALM: SCALE_REALM,
    DATABASE_URL: withDatabase(baseUrl, scaleDatabase(label)),
  });
  const configOf = (label: SizeLabel) => loadConfig(envOf(label));
  const first = configOf(labels[0]!);
  const { masterAdmin } = first.keycloak;
  if (!masterAdmin)
    throw new Error('the scale profile seeds its realm as the master admin: set KEYCLOAK_ADMIN_USERNAME and KEYCLOAK_ADMIN_PASSWORD');
  const admin = new KeycloakAdminRest({ url: first.keycloak.url, realm: SCALE_REALM }, masterAdminToken(first.keycloak.url, masterAdmin));
  const log = createLogger({ level: 'warn' });

  const unseeded: SizeLabel[] = [];
  for (const label of labels) {
    await ensureDatabase(withDatabase(baseUrl, 'postgres'), scaleDatabase(label));
    const db = new pg.Client({ connectionString: configOf(label).databaseUrl });
    await db.connect();
    try {
      if ((await seededMark(db)) !== seedMark(SIZES[label])) unseeded.push(label);
    } finally {
      await db.end();
    }
  }
  // The realm is provisioned with the first database that needs seeding (or the first at all):
  // a seeded mirror is never prepared again, since the directory sync would take back the
  // groups only the mirror has.
  const realmDatabase = unseeded[0] ?? labels[0]!;
  if (unseeded.length === 0) {
    // Only the realm (a Keycloak started on a new database lacks it): provisioning it through
    // prepareBackends with a seeded database would sync the directory into that database.
    await progress.step(`Realm ${SCALE_REALM}`, async () => {
      const { keycloak } = first;
      await provisionRealm({
        keycloakUrl: keycloak.url,
        masterAdmin,
        realm: keycloak.realm,
        apiClient: { clientId: keycloak.apiClientId, secret: keycloak.apiClientSecret },
        frontendClient: frontendClient(keycloak.frontendClientId, keycloak),
        smtp: first.smtp,
        bootstrapAdmin: first.bootstrapAdmin,
        catalog: first.catalog,
        log: () => {},
      });
    });
  } else {
    await progress.step(`Realm ${SCALE_REALM} (with database ${scaleDatabase(realmDatabase)})`, () =>
      prepareBackends(configOf(realmDatabase), log),
    );
  }
  const keycloak = await seedKeycloak(admin, progress);
  work.push(...keycloak.work);

  for (const label of unseeded) {
    const config = configOf(label);
    const started = performance.now();
    await progress.step(`Database ${scaleDatabase(label)}: migrations and the realm's directory`, () => prepareBackends(config, log));
    const db = new pg.Client({ connectionString: config.databaseUrl });
    await db.connect();
    try {
      await progress.step(`Seed ${scaleDatabase(label)}: ${SIZES[label].toLocaleString('en')} users and their world (minutes at 1M)`, () =>
        seedMirror(db, {
          users: SIZES[label],
          admin: { id: keycloak.adminId, ...SCALE_ADMIN },
          log: (line) => process.stderr.write(`    ${scaleDatabase(label)}: ${line}\n`),
        }),
      );
    } finally {
      await db.end();
    }
    work.push(`${scaleDatabase(label)} seeded in ${((performance.now() - started) / 60_000).toFixed(1)} min`);
  }
  // A seeded mirror gets the migrations written since (new indexes): never the directory sync.
  // The caller keeps its role_admin under the id Keycloak has for it now (a realm made again
  // gives it a new one; its links follow by ON UPDATE CASCADE).
  for (const label of labels.filter((l) => !unseeded.includes(l))) {
    const orm = await openDatabase(configOf(label).databaseUrl);
    try {
      const applied = await progress.step(`Migrations of ${scaleDatabase(label)}`, () => migrate(orm));
      if (applied.length > 0) work.push(`${scaleDatabase(label)}: ${applied.join(', ')} applied`);
      await orm.em
        .getConnection()
        .execute('update users set id = ? where email = ? and id <> ?', [keycloak.adminId, SCALE_ADMIN.email, keycloak.adminId]);
    } finally {
      await orm.close();
    }
  }
  return { envOf, configOf, admin, work };
}
