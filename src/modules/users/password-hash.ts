import type { InputCheck } from '../../validation.js';

/** Keycloak's password hash providers an imported hash may name (their provider ids). */
export const HASH_ALGORITHMS = ['pbkdf2', 'pbkdf2-sha256', 'pbkdf2-sha512', 'argon2'] as const;
export type HashAlgorithm = (typeof HASH_ALGORITHMS)[number];

/** A password hash from another system, as the import gives it (hash and salt in base64). */
export interface PasswordHash {
  algorithm: string;
  hash: string;
  salt?: string | null;
  iterations?: number | null;
  parameters?: Record<string, unknown> | null;
}

/**
 * A stored password credential as Keycloak imports it: the user representation's
 * `credentials` entry with `secretData` and `credentialData` (JSON strings), which Keycloak
 * keeps as they are rather than hashing a value. Secret: never logged, journaled or answered.
 */
export interface HashedCredential {
  type: 'password';
  secretData: string;
  credentialData: string;
}

/*
 * Bounds that keep an imported hash one Keycloak can check at sign-in in reasonable time:
 * each sign-in of the user pays the iterations and memory given here. Keycloak's own
 * defaults (pbkdf2-sha512: 210,000 iterations; argon2: 5 iterations, 7,168 KiB) are well within.
 */
const PBKDF2_ITERATIONS = { min: 1, max: 2_000_000 };
/*
 * Keycloak's pbkdf2 derives as many bytes as the stored hash has, one run of the iterations
 * per block of the digest's size: a 512-byte pbkdf2 (SHA-1) hash at 2,000,000 iterations is
 * 26 runs, and a 64-byte one took Keycloak 4.2 seconds a sign-in attempt, a wrong password's
 * included (ATTACK2-14, test/integration/attack-2.test.ts). The iterations bound is for all
 * the blocks together: one block keeps the 2,000,000 that legacy imports need.
 */
const PBKDF2_BLOCK_BYTES: Record<Exclude<HashAlgorithm, 'argon2'>, number> = { pbkdf2: 20, 'pbkdf2-sha256': 32, 'pbkdf2-sha512': 64 };
const ARGON2_ITERATIONS = { min: 1, max: 100 };
/*
 * Argon2's cost is its memory times its passes, paid by Keycloak at every sign-in attempt of
 * the user, a wrong password's included, by anyone who knows the address (Keycloak's own
 * token endpoint has no gateway limit in front of it). At the earlier bounds (256 MiB, 100
 * passes) one failed sign-in took Keycloak 38 seconds and 256 MiB (ATTACK2-13,
 * test/integration/attack-2.test.ts): a user manager's import could take Keycloak down.
 * 64 MiB is above OWASP's largest recommended setting (46 MiB), and the product bound is
 * about 7 times Keycloak's default (7,168 KiB × 5 passes), a few hundred milliseconds.
 */
const ARGON2_MEMORY_KIB = { min: 8, max: 65_536 };
const ARGON2_MAX_MEMORY_PASSES = 262_144;
const ARGON2_PARALLELISM = { min: 1, max: 16 };
const ARGON2_TYPES = ['id', 'i', 'd'];
const ARGON2_VERSIONS = ['1.0', '1.3'];
const HASH_BYTES = { min: 8, max: 512 };
const SALT_BYTES = { min: 1, max: 512 };
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The decoded bytes of standard base64 (as Keycloak decodes it), or undefined when it is not. */
function base64Bytes(value: string): Buffer | undefined {
  return BASE64.test(value) ? Buffer.from(value, 'base64') : undefined;
}

const isHashAlgorithm = (name: string): name is HashAlgorithm => (HASH_ALGORITHMS as readonly string[]).includes(name);

/** A whole number within bounds, from a number or a numeric string (JSON parameters may be either). */
function intIn(value: unknown, { min, max }: { min: number; max: number }): number | undefined {
  const number = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : value;
  return typeof number === 'number' && Number.isInteger(number) && number >= min && number <= max ? number : undefined;
}

/**
 * Checks an imported hash under `field` (field errors `<field>.algorithm`, `<field>.hash`...):
 * the algorithm one of Keycloak's, hash and salt base64, the iterations and argon2's
 * parameters within bounds. Messages never quote the values.
 */
export function checkPasswordHash(check: InputCheck, field: string, hash: PasswordHash): void {
  const { algorithm } = hash;
  if (!isHashAlgorithm(algorithm)) {
    check.fail(`${field}.algorithm`, `must be one of ${HASH_ALGORITHMS.join(', ')}`);
    return;
  }
  const bytes = base64Bytes(hash.hash);
  if (!bytes) check.fail(`${field}.hash`, 'must be base64');
  else if (bytes.length < HASH_BYTES.min || bytes.length > HASH_BYTES.max) {
    check.fail(`${field}.hash`, `must decode to ${HASH_BYTES.min} to ${HASH_BYTES.max} bytes`);
  }
  const salt = hash.salt == null ? undefined : base64Bytes(hash.salt);
  if (hash.salt == null || hash.salt === '') check.fail(`${field}.salt`, `is required for ${algorithm}`);
  else if (!salt) check.fail(`${field}.salt`, 'must be base64');
  else if (salt.length < SALT_BYTES.min || salt.length > SALT_BYTES.max) {
    check.fail(`${field}.salt`, `must decode to ${SALT_BYTES.min} to ${SALT_BYTES.max} bytes`);
  }
  const iterations = algorithm === 'argon2' ? ARGON2_ITERATIONS : PBKDF2_ITERATIONS;
  if (intIn(hash.iterations, iterations) === undefined) {
    check.fail(`${field}.iterations`, `must be a whole number from ${iterations.min} to ${iterations.max} for ${algorithm}`);
  }
  const parameters = hash.parameters ?? {};
  if (algorithm !== 'argon2' && bytes && intIn(hash.iterations, iterations) !== undefined) {
    const runs = Math.ceil(bytes.length / PBKDF2_BLOCK_BYTES[algorithm]) * Number(hash.iterations);
    if (runs > PBKDF2_ITERATIONS.max) {
      check.fail(
        `${field}.iterations`,
        `times the hash's blocks of ${PBKDF2_BLOCK_BYTES[algorithm]} bytes must be at most ${PBKDF2_ITERATIONS.max} for ${algorithm}`,
      );
    }
  }
  if (algorithm !== 'argon2') {
    if (Object.keys(parameters).length > 0) check.fail(`${field}.parameters`, `${algorithm} takes no parameters beyond iterations`);
    return;
  }
  const known = ['memory', 'parallelism', 'type', 'version', 'hashLength'];
  const unknown = Object.keys(parameters).filter((name) => !known.includes(name));
  if (unknown.length > 0) check.fail(`${field}.parameters`, `argon2 takes only ${known.join(', ')}`);
  else if (intIn(parameters.memory, ARGON2_MEMORY_KIB) === undefined) {
    check.fail(`${field}.parameters`, `memory (KiB) must be from ${ARGON2_MEMORY_KIB.min} to ${ARGON2_MEMORY_KIB.max}`);
  } else if (Number(parameters.memory) * Number(hash.iterations) > ARGON2_MAX_MEMORY_PASSES) {
    check.fail(`${field}.parameters`, `memory (KiB) times iterations must be at most ${ARGON2_MAX_MEMORY_PASSES}`);
  } else if (intIn(parameters.parallelism, ARGON2_PARALLELISM) === undefined) {
    check.fail(`${field}.parameters`, `parallelism must be from ${ARGON2_PARALLELISM.min} to ${ARGON2_PARALLELISM.max}`);
  } else if (parameters.type !== undefined && !ARGON2_TYPES.includes(String(parameters.type))) {
    check.fail(`${field}.parameters`, `type must be one of ${ARGON2_TYPES.join(', ')}`);
  } else if (parameters.version !== undefined && !ARGON2_VERSIONS.includes(String(parameters.version))) {
    check.fail(`${field}.parameters`, `version must be one of ${ARGON2_VERSIONS.join(', ')}`);
  } else if (parameters.hashLength !== undefined && bytes && intIn(parameters.hashLength, HASH_BYTES) !== bytes.length) {
    check.fail(`${field}.parameters`, 'hashLength must be the length of the hash in bytes');
  }
}

/**
 * The Keycloak credential of a hash `checkPasswordHash` accepted. Keycloak's pbkdf2 providers
 * derive as many bytes as the stored hash has, so any key length verifies; its argon2
 * provider reads its parameters as lists of strings (a MultivaluedHashMap).
 */
export function hashedCredential(hash: PasswordHash): HashedCredential {
  const algorithm = hash.algorithm as HashAlgorithm;
  let additionalParameters: Record<string, string[]> = {};
  if (algorithm === 'argon2') {
    const parameters = hash.parameters ?? {};
    additionalParameters = {
      type: [String(parameters.type ?? 'id')],
      version: [String(parameters.version ?? '1.3')],
      hashLength: [String(Buffer.from(hash.hash, 'base64').length)],
      memory: [String(parameters.memory)],
      parallelism: [String(parameters.parallelism)],
    };
  }
  return {
    type: 'password',
    secretData: JSON.stringify({ value: hash.hash, salt: hash.salt, additionalParameters: {} }),
    credentialData: JSON.stringify({ hashIterations: Number(hash.iterations), algorithm, additionalParameters }),
  };
}
