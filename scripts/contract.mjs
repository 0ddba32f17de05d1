#!/usr/bin/env node
// Runs the shared contract check on schema.graphql. While operations of the contract are
// still being built, what it reports as *removed* is the list of work left; anything
// else (a changed type, a required argument or input field added) breaks clients, and fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const checker = '../shared/tools/contract-check.mjs';
// The contract lives beside the repository in the team's workspace (and in CI). A checkout
// elsewhere has no copy: say so rather than fail every `npm test` there.
if (!existsSync(checker) && !process.env.CI) {
  console.log(`contract check skipped: ${checker} is not beside this checkout`);
  process.exit(0);
}
const result = spawnSync(process.execPath, [checker, 'schema.graphql'], { encoding: 'utf8' });
if (result.error || result.status === 2 || (result.status !== 0 && !result.stdout)) {
  console.error(result.stderr || result.error?.message || 'contract check could not run');
  process.exit(2);
}
const lines = result.stdout.trim().split('\n');
const summary = lines.pop();
const missing = lines.filter((line) => /^[A-Z_]*REMOVED[A-Z_]*:/.test(line));
const breaking = lines.filter((line) => !missing.includes(line));
console.log(summary);
if (missing.length > 0) console.log(`not built yet: ${missing.length} contract item(s), e.g.\n  ${missing.slice(0, 5).join('\n  ')}`);
if (breaking.length > 0) {
  console.error(`changed incompatibly (must be fixed):\n  ${breaking.join('\n  ')}`);
  process.exit(1);
}
