import { readFileSync } from 'node:fs';
import { type Document, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, visit } from 'yaml';
import {
  ADMIN_ROLE,
  type Catalog,
  type CatalogEntry,
  MAX_DESCRIPTION_LENGTH,
  MAX_NAME_LENGTH,
  PRIVILEGE_NAME,
  REQUIRED_CATALOG_ENTRIES,
  ROLE_NAME,
  type RoleEntry,
} from './realm-catalog.js';

/** The catalog a file declares, or every problem found in it (then no catalog). */
export type CatalogReading = { catalog: Catalog; problems: [] } | { catalog?: undefined; problems: string[] };

/** Where a value sits in the file: `roles[2].privileges[0]` as segments. */
type Path = (string | number)[];

const TOP_LEVEL_KEYS = ['privileges', 'roles'];
const PRIVILEGE_KEYS = ['name', 'description'];
const ROLE_KEYS = ['name', 'description', 'privileges'];

/**
 * Reads IAM_CATALOG_FILE: JSON or YAML (the YAML 1.2 parser reads JSON too). Each problem
 * names the file, the line, the entry and what to change, so that a person fixes the file
 * without reading the code.
 */
export function readCatalogFile(file: string): CatalogReading {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { problems: [`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`] };
  }
  return parseCatalog(text, file);
}

/** The catalog `text` declares; `source` names it in the problems. */
export function parseCatalog(text: string, source: string): CatalogReading {
  const lineCounter = new LineCounter();
  // Keys twice in one mapping are an error, not the last one silently winning.
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => `${source}:${offset === undefined ? 1 : lineCounter.linePos(offset).line}`;
  if (document.errors.length > 0) {
    return { problems: document.errors.map((error) => `${at(error.pos[0])}: ${firstLine(error.message)}`) };
  }
  // The line of a key, or of a list item; a missing one is reported on its entry's line.
  const lineOf = (path: Path): string => {
    let node: unknown = document.contents;
    let offset = document.contents?.range?.[0];
    for (const segment of path) {
      const found = isMap(node)
        ? node.items.find((pair) => isScalar(pair.key) && pair.key.value === segment)
        : isSeq(node) && typeof segment === 'number'
          ? { key: node.items[segment], value: node.items[segment] }
          : undefined;
      if (!found?.key) break;
      offset = (found.key as Node).range?.[0] ?? offset;
      node = found.value;
    }
    return at(offset);
  };
  if (!isMap(document.contents)) {
    return { problems: [`${lineOf([])}: must be a mapping with the lists privileges and roles, as in catalog.example.yaml`] };
  }
  let top: Record<string, unknown>;
  try {
    top = document.toJS() as Record<string, unknown>;
  } catch (error) {
    // The parser leaves two mistakes to the conversion, which throws: an alias whose anchor is
    // not set, and aliases that expand past its limit (a "billion laughs").
    return { problems: [`${at(unresolvedAliasOffset(document))}: ${firstLine((error as Error).message)}`] };
  }
  const checker = new CatalogChecker((path, message) => `${lineOf(path)}: ${path.length > 0 ? `${pathText(path)}: ` : ''}${message}`);
  return checker.check(top);
}

/** Where the first alias without an anchor sits, if any. */
function unresolvedAliasOffset(document: Document): number | undefined {
  let offset: number | undefined;
  visit(document, {
    Alias(_key, alias) {
      if (alias.resolve(document) !== undefined) return undefined;
      offset = alias.range?.[0];
      return visit.BREAK;
    },
  });
  return offset;
}

class CatalogChecker {
  private readonly problems: string[] = [];

  constructor(private readonly describe: (path: Path, message: string) => string) {}

  check(top: Record<string, unknown>): CatalogReading {
    this.unknownKeys(top, TOP_LEVEL_KEYS, []);
    const privileges = this.list(top, 'privileges').flatMap(([item, path]) => this.privilege(item, path) ?? []);
    const declared = new Set(privileges.map((privilege) => privilege.name));
    const roles = this.list(top, 'roles').flatMap(([item, path]) => this.role(item, path, [...declared]) ?? []);
    this.duplicates('privileges', privileges);
    this.duplicates('roles', roles);
    for (const required of REQUIRED_CATALOG_ENTRIES) {
      const list = required.kind === 'ROLE' ? 'roles' : 'privileges';
      const entries: readonly CatalogEntry[] = required.kind === 'ROLE' ? roles : privileges;
      if (!entries.some((entry) => entry.name === required.name)) {
        const names = REQUIRED_CATALOG_ENTRIES.map((entry) => entry.name).join(', ');
        this.fail([list], `${required.name} is missing: the gateway needs it (${required.why}); every catalog declares ${names}`);
      }
    }
    if (this.problems.length > 0) return { problems: this.problems };
    return {
      catalog: { privileges: privileges.map(({ path: _, ...entry }) => entry), roles: roles.map(({ path: _, ...entry }) => entry) },
      problems: [],
    };
  }

  private fail(path: Path, message: string): void {
    this.problems.push(this.describe(path, message));
  }

  /** The items of a required list, each with its path. */
  private list(top: Record<string, unknown>, key: string): [unknown, Path][] {
    const value = top[key];
    if (value === undefined || value === null) {
      this.fail([], `${key} is missing: a list of entries, each with a name${key === 'roles' ? ' and the privileges it grants' : ''}`);
      return [];
    }
    if (!Array.isArray(value)) {
      this.fail([key], 'must be a list');
      return [];
    }
    return value.map((item, index) => [item, [key, index]]);
  }

  private privilege(item: unknown, path: Path): (CatalogEntry & { path: Path }) | undefined {
    const entry = this.entry(item, path, PRIVILEGE_KEYS, PRIVILEGE_NAME, 'priv_invoice_approve');
    return entry && { ...entry, path };
  }

  private role(item: unknown, path: Path, declared: string[]): (RoleEntry & { path: Path }) | undefined {
    const entry = this.entry(item, path, ROLE_KEYS, ROLE_NAME, 'role_accountant');
    if (!entry) return undefined;
    const given = (item as Record<string, unknown>).privileges;
    const listPath = [...path, 'privileges'];
    let privileges: string[] = [];
    if (Array.isArray(given)) {
      const seen = new Set<string>();
      for (const [index, name] of given.entries()) {
        const itemPath = [...listPath, index];
        if (typeof name !== 'string') this.fail(itemPath, 'must be the name of a privilege');
        else if (!declared.includes(name)) {
          const suggestion = closest(name, declared);
          const hint = suggestion ? `did you mean ${suggestion}?` : 'declare it under privileges first';
          this.fail(itemPath, `${name} is not a declared privilege (${hint})`);
        } else if (seen.has(name)) this.fail(itemPath, `${name} is listed twice`);
        else seen.add(name);
      }
      privileges = [...seen];
    } else if (given !== undefined && given !== null) {
      this.fail(listPath, 'must be a list of privilege names');
    }
    if (entry.name === ADMIN_ROLE) {
      // Administrators act with every privilege: a role_admin without one would be a trap.
      const lacking = declared.filter((name) => !privileges.includes(name));
      if (given !== undefined && given !== null && lacking.length > 0) {
        this.fail(
          listPath,
          `${ADMIN_ROLE} holds every privilege, and this list lacks ${lacking.join(', ')}: list them all, or leave privileges out`,
        );
      }
      privileges = declared;
    }
    return { ...entry, privileges, path };
  }

  /** The name and description of a privilege or role, checked; undefined when it is not an entry at all. */
  private entry(item: unknown, path: Path, keys: string[], pattern: RegExp, example: string): CatalogEntry | undefined {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      this.fail(path, `must be a mapping with a name, e.g. { name: ${example} }`);
      return undefined;
    }
    const fields = item as Record<string, unknown>;
    this.unknownKeys(fields, keys, path);
    const { name, description } = fields;
    const prefix = example.slice(0, example.indexOf('_') + 1);
    if (typeof name !== 'string' || name === '') {
      this.fail(path, `name is missing: a name such as ${example}`);
      return undefined;
    }
    if (!pattern.test(name) || name.length > MAX_NAME_LENGTH) {
      this.fail(
        [...path, 'name'],
        `${name} is not a valid name: ${prefix} followed by lower-case letters, digits and underscores, at most ${MAX_NAME_LENGTH} characters, e.g. ${example}`,
      );
    }
    if (description !== undefined && description !== null) {
      if (typeof description !== 'string') this.fail([...path, 'description'], 'must be text');
      else if (description.length > MAX_DESCRIPTION_LENGTH) {
        this.fail([...path, 'description'], `is ${description.length} characters long: at most ${MAX_DESCRIPTION_LENGTH}`);
      }
    }
    return typeof description === 'string' ? { name, description } : { name };
  }

  private unknownKeys(fields: Record<string, unknown>, known: string[], path: Path): void {
    for (const key of Object.keys(fields).filter((key) => !known.includes(key))) {
      const suggestion = closest(key, known);
      this.fail(
        [...path, key],
        `unknown field${suggestion ? ` (did you mean ${suggestion}?)` : ''}: the fields here are ${known.join(', ')}`,
      );
    }
  }

  private duplicates(list: string, entries: { name: string; path: Path }[]): void {
    const first = new Map<string, Path>();
    for (const entry of entries) {
      const earlier = first.get(entry.name);
      if (earlier)
        this.fail(entry.path, `${entry.name} is declared twice (also at ${pathText(earlier)}): declare each ${list.slice(0, -1)} once`);
      else first.set(entry.name, entry.path);
    }
  }
}

/** `roles[2].privileges[0]` */
function pathText(path: Path): string {
  return path.map((segment, index) => (typeof segment === 'number' ? `[${segment}]` : `${index > 0 ? '.' : ''}${segment}`)).join('');
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

/** The candidate a typo most likely meant: a few edits away, and nearer than any other. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  const allowed = Math.max(2, Math.floor(word.length / 4));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance <= allowed && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
