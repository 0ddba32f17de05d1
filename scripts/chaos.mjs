#!/usr/bin/env node
// npm run chaos: runs the fault-injection suite (test/chaos) and prints, per fault, what the
// gateway was asked, what it acknowledged, and what was lost or left on one side only once
// its jobs ran. Each chaos test appends its figures to CHAOS_REPORT (test/chaos/consistency.ts).
// Fails when a test fails or any fault lost or orphaned anything.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const report = join(root, 'node_modules', '.cache', 'chaos', 'report.jsonl');
mkdirSync(dirname(report), { recursive: true });
rmSync(report, { force: true });

const run = spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'test/chaos', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, CHAOS_REPORT: report },
});

const rows = existsSync(report)
  ? readFileSync(report, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line))
  : [];

const columns = [
  ['fault', (row) => row.fault],
  ['attempted', (row) => row.attempted],
  ['acknowledged', (row) => row.acknowledged],
  ['lost', (row) => row.lost],
  ['orphaned in Keycloak', (row) => row.orphanedInKeycloak],
  ['orphaned locally', (row) => row.orphanedLocally],
  ['time to consistency', (row) => `${(row.timeToConsistencyMs / 1000).toFixed(1)} s`],
];
const cells = rows.map((row) => columns.map(([, value]) => String(value(row))));
const widths = columns.map(([title], i) => Math.max(title.length, ...cells.map((line) => line[i].length)));
const line = (values) => `| ${values.map((value, i) => (i === 0 ? value.padEnd(widths[i]) : value.padStart(widths[i]))).join(' | ')} |`;
console.log('\nConsistency under injected faults\n');
console.log(line(columns.map(([title]) => title)));
console.log(`|${widths.map((width, i) => (i === 0 ? `:${'-'.repeat(width + 1)}` : `${'-'.repeat(width + 1)}:`)).join('|')}|`);
for (const values of cells) console.log(line(values));

const damaged = rows.filter((row) => row.lost + row.orphanedInKeycloak + row.orphanedLocally > 0);
const total = (key) => rows.reduce((sum, row) => sum + row[key], 0);
console.log(
  `\n${rows.length} faults, ${total('attempted')} operations attempted, ${total('acknowledged')} acknowledged; ` +
    `lost ${total('lost')}, orphaned in Keycloak ${total('orphanedInKeycloak')}, orphaned locally ${total('orphanedLocally')}`,
);
if (rows.length === 0) console.error('no figures were recorded: did the suite run?');
if (damaged.length > 0) console.error(`inconsistent after: ${damaged.map((row) => row.fault).join('; ')}`);
process.exit(run.status !== 0 ? (run.status ?? 1) : damaged.length > 0 || rows.length === 0 ? 1 : 0);
