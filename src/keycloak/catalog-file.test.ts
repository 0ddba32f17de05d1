import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCatalog, readCatalogFile } from './catalog-file.js';
import { DEFAULT_CATALOG } from './realm-catalog.js';

const EXAMPLE_FILE = new URL('../../catalog.example.yaml', import.meta.url).pathname;

/** A team's catalog: the privileges and roles the gateway needs, and one of its own. */
const TEAM_CATALOG = [
  'privileges:',
  '  - name: priv_user_management',
  '  - name: priv_invoice_approve',
  '    description: Approve invoices',
  'roles:',
  '  - name: role_admin',
  '  - name: role_manager',
  '  - name: role_accountant',
  '    description: Accountant',
  '    privileges: [priv_invoice_approve]',
].join('\n');

const TEAM_CATALOG_READ = {
  privileges: [{ name: 'priv_user_management' }, { name: 'priv_invoice_approve', description: 'Approve invoices' }],
  roles: [
    { name: 'role_admin', privileges: ['priv_user_management', 'priv_invoice_approve'] },
    { name: 'role_manager', privileges: [] },
    { name: 'role_accountant', description: 'Accountant', privileges: ['priv_invoice_approve'] },
  ],
};

const problemsOf = (text: string) => parseCatalog(text, 'catalog.yaml').problems;
/** The team's catalog with one line replaced (1-based), to break one thing at a known line. */
const withLine = (line: number, text: string) =>
  TEAM_CATALOG.split('\n')
    .map((original, index) => (index === line - 1 ? text : original))
    .join('\n');

const directory = mkdtempSync(join(tmpdir(), 'catalog-file-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
function fileWith(name: string, text: string): string {
  const file = join(directory, name);
  writeFileSync(file, text);
  return file;
}

describe('the catalog file (IAM_CATALOG_FILE)', () => {
  it('catalog.example.yaml declares exactly the built-in catalog', () => {
    expect(readCatalogFile(EXAMPLE_FILE)).toEqual({ catalog: DEFAULT_CATALOG, problems: [] });
  });

  it("reads a team's YAML file: role_admin gets every privilege, a role without a list none", () => {
    expect(readCatalogFile(fileWith('team.yaml', TEAM_CATALOG))).toEqual({ catalog: TEAM_CATALOG_READ, problems: [] });
  });

  it('reads the same catalog from JSON', () => {
    const json = JSON.stringify(
      {
        privileges: [{ name: 'priv_user_management' }, { name: 'priv_invoice_approve', description: 'Approve invoices' }],
        roles: [
          { name: 'role_admin' },
          { name: 'role_manager', privileges: [] },
          { name: 'role_accountant', description: 'Accountant', privileges: ['priv_invoice_approve'] },
        ],
      },
      null,
      2,
    );
    expect(readCatalogFile(fileWith('team.json', json))).toEqual({ catalog: TEAM_CATALOG_READ, problems: [] });
  });

  it("accepts role_admin's list when it names every privilege, and refuses one that leaves some out", () => {
    expect(
      parseCatalog(withLine(6, '  - { name: role_admin, privileges: [priv_invoice_approve, priv_user_management] }'), 'c').catalog
        ?.roles[0],
    ).toEqual({ name: 'role_admin', privileges: ['priv_user_management', 'priv_invoice_approve'] });
    expect(problemsOf(withLine(6, '  - { name: role_admin, privileges: [priv_invoice_approve] }'))).toEqual([
      'catalog.yaml:6: roles[0].privileges: role_admin holds every privilege, and this list lacks priv_user_management: list them all, or leave privileges out',
    ]);
  });

  describe('refuses a file, naming its line, the entry and what to change', () => {
    it("ATTACK-2: an alias without its anchor, or aliases expanding past the parser's limit, as problems rather than an exception", () => {
      expect(problemsOf(withLine(10, '    privileges: *accounting'))).toEqual([
        'catalog.yaml:10: Unresolved alias (the anchor must be set before the alias): accounting',
      ]);
      const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
      for (const [index, name] of ['b', 'c', 'd', 'e'].entries())
        laughs.push(`${name}: &${name} [${Array(10).fill(`*${'abcd'[index]}`).join(', ')}]`);
      expect(problemsOf(`${laughs.join('\n')}\n${TEAM_CATALOG}`)).toEqual([
        'catalog.yaml:1: Excessive alias count indicates a resource exhaustion attack',
      ]);
    });

    it('a role granting a privilege the file does not declare, suggesting the one a typo meant', () => {
      expect(problemsOf(withLine(10, '    privileges: [priv_invoice_aprove, priv_payroll]'))).toEqual([
        'catalog.yaml:10: roles[2].privileges[0]: priv_invoice_aprove is not a declared privilege (did you mean priv_invoice_approve?)',
        'catalog.yaml:10: roles[2].privileges[1]: priv_payroll is not a declared privilege (declare it under privileges first)',
      ]);
    });

    it('a name without its prefix or with characters Keycloak role names here must not have', () => {
      expect(problemsOf(withLine(3, '  - name: invoice_approve'))).toEqual([
        'catalog.yaml:3: privileges[1].name: invoice_approve is not a valid name: priv_ followed by lower-case letters, digits and underscores, at most 255 characters, e.g. priv_invoice_approve',
        'catalog.yaml:10: roles[2].privileges[0]: priv_invoice_approve is not a declared privilege (did you mean invoice_approve?)',
      ]);
      expect(problemsOf(withLine(8, '  - name: role_Accountant'))).toEqual([
        'catalog.yaml:8: roles[2].name: role_Accountant is not a valid name: role_ followed by lower-case letters, digits and underscores, at most 255 characters, e.g. role_accountant',
      ]);
      expect(problemsOf(withLine(8, `  - name: role_${'a'.repeat(251)}`))).toEqual([
        expect.stringMatching(/^catalog\.yaml:8: roles\[2\]\.name: role_a+ is not a valid name: .* at most 255 characters/),
      ]);
    });

    it('a privilege or role declared twice, and a privilege listed twice in one role', () => {
      expect(problemsOf(withLine(8, '  - name: role_manager'))).toEqual([
        'catalog.yaml:8: roles[2]: role_manager is declared twice (also at roles[1]): declare each role once',
      ]);
      expect(problemsOf(withLine(3, '  - name: priv_user_management'))).toEqual([
        'catalog.yaml:10: roles[2].privileges[0]: priv_invoice_approve is not a declared privilege (declare it under privileges first)',
        'catalog.yaml:3: privileges[1]: priv_user_management is declared twice (also at privileges[0]): declare each privilege once',
      ]);
      expect(problemsOf(withLine(10, '    privileges: [priv_invoice_approve, priv_invoice_approve]'))).toEqual([
        'catalog.yaml:10: roles[2].privileges[1]: priv_invoice_approve is listed twice',
      ]);
    });

    it("a catalog without what the gateway's own rules grant to: priv_user_management, role_admin, role_manager", () => {
      expect(problemsOf(withLine(7, '  - name: role_auditor'))).toEqual([
        'catalog.yaml:5: roles: role_manager is missing: the gateway needs it (the permission table lets it read the audit trail); every catalog declares priv_user_management, role_admin, role_manager',
      ]);
      expect(problemsOf(withLine(2, '  - name: priv_users'))).toEqual([
        'catalog.yaml:1: privileges: priv_user_management is missing: the gateway needs it (the permission table lets it manage users); every catalog declares priv_user_management, role_admin, role_manager',
      ]);
      expect(problemsOf(withLine(6, '  - name: role_administrator'))).toEqual([
        expect.stringMatching(
          /^catalog\.yaml:5: roles: role_admin is missing: the gateway needs it \(the permission table lets it do anything/,
        ),
      ]);
    });

    it('a field the catalog does not know, suggesting the one a typo meant', () => {
      expect(problemsOf(withLine(10, '    privilege: [priv_invoice_approve]'))).toEqual([
        'catalog.yaml:10: roles[2].privilege: unknown field (did you mean privileges?): the fields here are name, description, privileges',
      ]);
      expect(problemsOf(`${TEAM_CATALOG}\ngroups: []`)).toEqual([
        'catalog.yaml:11: groups: unknown field: the fields here are privileges, roles',
      ]);
    });

    it('entries, lists and descriptions of the wrong shape', () => {
      expect(problemsOf(withLine(2, '  - priv_user_management'))).toEqual([
        'catalog.yaml:2: privileges[0]: must be a mapping with a name, e.g. { name: priv_invoice_approve }',
        expect.stringMatching(/^catalog\.yaml:1: privileges: priv_user_management is missing/),
      ]);
      expect(problemsOf(withLine(10, '    privileges: priv_invoice_approve'))).toEqual([
        'catalog.yaml:10: roles[2].privileges: must be a list of privilege names',
      ]);
      expect(problemsOf(withLine(9, '    description: 42'))).toEqual(['catalog.yaml:9: roles[2].description: must be text']);
      expect(problemsOf(withLine(9, `    description: ${'x'.repeat(256)}`))).toEqual([
        'catalog.yaml:9: roles[2].description: is 256 characters long: at most 255',
      ]);
      expect(problemsOf(withLine(7, '  - description: Manager'))).toEqual([
        'catalog.yaml:7: roles[1]: name is missing: a name such as role_accountant',
        expect.stringMatching(/^catalog\.yaml:5: roles: role_manager is missing/),
      ]);
    });

    it('a file without its lists, or that is no mapping at all', () => {
      expect(problemsOf('privileges:\n  - name: priv_user_management\n')).toEqual([
        'catalog.yaml:1: roles is missing: a list of entries, each with a name and the privileges it grants',
        expect.stringContaining('roles: role_admin is missing'),
        expect.stringContaining('roles: role_manager is missing'),
      ]);
      expect(problemsOf('roles: {}\nprivileges: []')).toEqual([
        'catalog.yaml:1: roles: must be a list',
        expect.stringContaining('privileges: priv_user_management is missing'),
        expect.stringContaining('roles: role_admin is missing'),
        expect.stringContaining('roles: role_manager is missing'),
      ]);
      expect(problemsOf('- priv_user_management')).toEqual([
        'catalog.yaml:1: must be a mapping with the lists privileges and roles, as in catalog.example.yaml',
      ]);
      expect(problemsOf('')).toEqual(['catalog.yaml:1: must be a mapping with the lists privileges and roles, as in catalog.example.yaml']);
    });

    it('YAML or JSON that does not parse, and a key given twice in one mapping', () => {
      // The usual trap: an unquoted value holding ': '.
      expect(problemsOf(withLine(4, '    description: Approve: invoices'))).toEqual([
        'catalog.yaml:4: Nested mappings are not allowed in compact mappings',
      ]);
      expect(problemsOf(withLine(4, '    name: priv_invoice_approve'))).toEqual([
        expect.stringMatching(/^catalog\.yaml:4: Map keys must be unique/),
      ]);
      const json = '{\n  "privileges": [ { "name": "priv_user_management" } ]\n  "roles": []\n}\n';
      expect(parseCatalog(json, 'catalog.json').problems).toEqual(['catalog.json:3: Missing , between flow map items']);
    });

    it('a file that cannot be read', () => {
      expect(readCatalogFile(join(directory, 'missing.yaml')).problems).toEqual([
        `${join(directory, 'missing.yaml')}: cannot be read (ENOENT)`,
      ]);
    });
  });
});
