#!/usr/bin/env node
// Checks every relative link in the repository's Markdown (README.md, CONTRIBUTING.md,
// SECURITY.md, docs/*.md): the file must exist inside the repository and, when the link names
// a heading (#anchor), the target must have that heading as GitHub spells its anchor.
// Exit 1 listing each broken link. bench/results is left out: it is history, not a guide.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const files = [
  'README.md',
  'CONTRIBUTING.md',
  'SECURITY.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
].filter((file) => existsSync(join(root, file)));

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

const anchorsOf = (text) => {
  const seen = new Map();
  const anchors = new Set();
  // Headings outside fenced code blocks only.
  for (const line of text.replace(/^```[\s\S]*?^```/gm, '').split('\n')) {
    const match = /^#{1,6}\s+(.*)$/.exec(line);
    if (!match) continue;
    const base = slug(match[1]);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
};

const problems = [];
let checked = 0;
for (const file of files) {
  const text = readFileSync(join(root, file), 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target)) continue;
    checked++;
    const [path, anchor] = target.split('#');
    const absolute = path ? resolve(root, dirname(file), path) : join(root, file);
    const inside = !relative(root, absolute).startsWith('..');
    if (!inside || !existsSync(absolute)) {
      problems.push(`${file}: ${target} (no such file in the repository)`);
      continue;
    }
    if (anchor && statSync(absolute).isFile() && !anchorsOf(readFileSync(absolute, 'utf8')).has(anchor)) {
      problems.push(`${file}: ${target} (no heading #${anchor} there)`);
    }
  }
}
if (problems.length > 0) {
  console.error(`broken links:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`${checked} relative links in ${files.length} files resolve`);
