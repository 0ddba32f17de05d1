import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { prepareBackends } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { isolatedBackends, type IsolatedBackends } from '../support/isolated.js';
import { createKeycloakUser, keycloakAdmin, passwordGrant } from '../support/keycloak.js';

// A team declares its own catalog, as the README shows: the example file, plus
// priv_invoice_approve granted by a new role_accountant, then a restart. Provisioning runs
// on the realm it finds, which is why this file has a realm and a database of its own.
const EXAMPLE_FILE = new URL('../../catalog.example.yaml', import.meta.url).pathname;

let backends: IsolatedBackends;
let gateway: TestGateway;
let token: string;
let catalogFile: string;
/** What the restart logged at warn level and above. */
const warnings: Record<string, any>[] = [];
const directory = mkdtempSync(join(tmpdir(), 'catalog-'));

const admin = <T = any>(method: string, path: string, body?: unknown) => keycloakAdmin<T>(method, path, body, backends.realm);

beforeAll(async () => {
  // The realm as the built-in catalog left it, and a role made in Keycloak's console since.
  backends = await isolatedBackends('catalog');
  expect((await admin('POST', '/roles', { name: 'role_legacy', description: 'Made in the console' })).status).toBe(201);

  const team = parseDocument(readFileSync(EXAMPLE_FILE, 'utf8'));
  team.addIn(['privileges'], { name: 'priv_invoice_approve', description: 'Approve invoices' });
  team.addIn(['roles'], { name: 'role_accountant', description: 'Accountant', privileges: ['priv_invoice_approve'] });
  catalogFile = join(directory, 'catalog.yaml');
  writeFileSync(catalogFile, team.toString());
  const { catalog } = loadConfig({
    DATABASE_URL: backends.config.databaseUrl,
    KEYCLOAK_URL: backends.config.keycloak.url,
    KEYCLOAK_API_CLIENT_SECRET: 'unused',
    IAM_CATALOG_FILE: catalogFile,
  });
  const config: Config = { ...backends.config, catalog };

  // The restart: what a gateway process does before it serves.
  const log = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
  await prepareBackends(config, log);
  gateway = await startTestGateway(() => config);
  const { email, password } = config.bootstrapAdmin!;
  token = (await passwordGrant(email, password, backends.realm)).access_token;
});
afterAll(async () => {
  await gateway?.close();
  await backends?.close();
  rmSync(directory, { recursive: true, force: true });
});

describe('a catalog file (IAM_CATALOG_FILE) at the next start', () => {
  it('creates priv_invoice_approve and role_accountant in Keycloak, the role a composite of the privilege', async () => {
    expect((await admin('GET', '/roles/priv_invoice_approve')).body).toMatchObject({ description: 'Approve invoices' });
    expect((await admin('GET', '/roles/role_accountant')).body).toMatchObject({ description: 'Accountant', composite: true });
    const composites = await admin<{ name: string }[]>('GET', '/roles/role_accountant/composites/realm');
    expect(composites.body.map((role) => role.name)).toEqual(['priv_invoice_approve']);
    const ofAdmin = await admin<{ name: string }[]>('GET', '/roles/role_admin/composites/realm');
    expect(ofAdmin.body.map((role) => role.name)).toContain('priv_invoice_approve');
  });

  it('puts the privilege in the tokens of whoever holds the role', async () => {
    const accountant = await createKeycloakUser({ realmRoles: ['role_accountant'], realm: backends.realm });
    const { access_token } = await passwordGrant(accountant.email, accountant.password, backends.realm);
    expect((decodeJwt(access_token).realm_access as { roles: string[] }).roles).toEqual(
      expect.arrayContaining(['role_accountant', 'priv_invoice_approve']),
    );
  });

  it('shows them in the mirror and through the roles and privileges queries', async () => {
    const mirrored = await backends.sql<{ role: string; privilege: string }>(
      `select r.name as role, p.name as privilege from role_privileges rp
         join realm_roles r on r.id = rp.role_id join realm_roles p on p.id = rp.privilege_id
        where r.name = 'role_accountant'`,
    );
    expect(mirrored).toEqual([{ role: 'role_accountant', privilege: 'priv_invoice_approve' }]);

    const response = await gateway.graphql('{ roles { name description privileges { name } } privileges { name description } }', { token });
    expect(response.errors).toBeUndefined();
    expect(response.data!.privileges).toContainEqual({ name: 'priv_invoice_approve', description: 'Approve invoices' });
    expect(response.data!.roles).toContainEqual({
      name: 'role_accountant',
      description: 'Accountant',
      privileges: [{ name: 'priv_invoice_approve' }],
    });
  });

  it('reports a role Keycloak holds and the file does not declare, and deletes nothing', async () => {
    expect(warnings).toEqual([
      expect.objectContaining({
        level: 40,
        realm: backends.realm,
        catalog: catalogFile,
        notInCatalog: { roles: ['role_legacy'], privileges: [], grants: {} },
        msg: expect.stringContaining('the catalog does not declare'),
      }),
    ]);
    expect((await admin('GET', '/roles/role_legacy')).body).toMatchObject({ name: 'role_legacy', description: 'Made in the console' });
    const response = await gateway.graphql('{ roles { name } }', { token });
    expect(response.data!.roles).toContainEqual({ name: 'role_legacy' });
  });
});
