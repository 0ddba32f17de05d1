import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { createClient, type RedisClientType } from '@redis/client';
import { AppError } from '../errors.js';
import type { CounterName, Limit, RateLimitedOperation, RateLimits } from '../config.js';
import type { Logger } from '../logger.js';

/** One call as the counters see it. */
export interface Call {
  args: Args;
  /** The caller's network: an IPv4 address, or an IPv6 /64. */
  network: string;
  /** The signed-in caller, if any. */
  caller?: { userId: string; email: string };
}

/** What a counter counts a call under; undefined when the call is not one it counts. */
type CounterKey = (call: Call) => string | undefined;

const byNetwork: CounterKey = ({ network }) => network;
const byCaller: CounterKey = ({ caller }) => caller?.userId;
const byAccount =
  (account: (args: Args) => string | undefined): CounterKey =>
  ({ args, network }) => {
    const name = account(args)?.trim().toLowerCase();
    return name ? `${name}\n${network}` : undefined;
  };

/**
 * Every rate-limited operation, in one place: what each of its counters counts (their
 * limits are configuration: RATE_LIMIT_DEFAULTS in `src/config.ts`). The permission table
 * applies them with `rateLimited(operation)`. Counters are listed broadest first: a call
 * one counter refused is not counted by the ones after it, so a client hammering away
 * under many usernames keeps one counter, not one per username (L3).
 */
const RATE_LIMITED_OPERATIONS: { [Operation in RateLimitedOperation]: Record<keyof RateLimits[Operation], CounterKey> } = {
  login: { perIp: byNetwork, perAccountAndIp: byAccount((args) => field(args.input, 'username')) },
  signup: { perIp: byNetwork, perAccountAndIp: byAccount((args) => field(args.input, 'email')) },
  resetPassword: { perIp: byNetwork, perAccountAndIp: byAccount((args) => field(args, 'email')) },
  createTenant: { perCaller: byCaller },
  createInvitation: {
    perCaller: byCaller,
    perTenant: ({ args }) => field(args.input, 'tenantId'),
    // The mailbox, whichever tenants invite it: many tenants of one signer-up could otherwise flood it.
    perRecipient: ({ args }) => field(args.input, 'email')?.trim().toLowerCase() || undefined,
  },
  acceptInvitation: { perIp: byNetwork },
  registerUser: { perCaller: byCaller },
  importUsers: { perCaller: byCaller },
  sendPasswordSetupEmail: { perCaller: byCaller, perRecipient: ({ args }) => field(args, 'userId') },
  // Only the calls that email (sendEmail defaults to true): adding required actions alone sends nothing.
  requireUserActions: {
    perCaller: (call) => (call.args.sendEmail === false ? undefined : byCaller(call)),
    perRecipient: ({ args }) => (args.sendEmail === false ? undefined : field(args, 'userId')),
  },
  // updateMyProfile changing the caller's email: each change can be a probe for a taken address.
  emailChange: {
    perCaller: ({ args, caller }) => {
      const email = field(args.input, 'email')?.trim().toLowerCase();
      return caller && email && email !== caller.email.toLowerCase() ? caller.userId : undefined;
    },
  },
};

type Args = Record<string, unknown>;

function field(object: unknown, name: string): string | undefined {
  const value = (object as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

/** Where the counts live: one process's memory, or Redis shared by every gateway process. */
export interface RateLimitStore {
  /**
   * Counts one call against `key` in a fixed window that opens at the key's first call;
   * answers the calls counted so far and the milliseconds until the window closes.
   */
  hit(key: string, windowMs: number): Promise<{ count: number; resetInMs: number }>;
  close(): Promise<void>;
}

/** Counts and enforces the limits of RATE_LIMITED_OPERATIONS. One per process. */
export class RateLimiter {
  constructor(
    private readonly store: RateLimitStore,
    private readonly limits: RateLimits,
    private readonly log: Logger,
  ) {}

  /**
   * Counts one call of `operation` from `clientIp` with these arguments. Throws
   * RATE_LIMITED once a limit is exceeded, and UPSTREAM_UNAVAILABLE when the store does
   * not answer: a limiter that cannot count does not let calls through uncounted.
   */
  async consume(operation: RateLimitedOperation, clientIp: string, args: Args, caller?: Call['caller']): Promise<void> {
    const call: Call = { args, network: networkOf(clientIp), caller };
    const limits = this.limits[operation] as Partial<Record<CounterName, Limit>>;
    for (const [counter, keyOf] of Object.entries(RATE_LIMITED_OPERATIONS[operation]) as [CounterName, CounterKey][]) {
      const key = keyOf(call);
      const limit = limits[counter];
      if (key === undefined || !limit) continue;
      let count: number;
      let resetInMs: number;
      try {
        // Hashed: keys stay short, and the store never holds anyone's username or address book.
        ({ count, resetInMs } = await this.store.hit(`${operation}:${counter}:${digest(key)}`, limit.windowSeconds * 1000));
      } catch (error) {
        this.log.error({ err: error, operation }, 'the rate-limit store did not answer');
        throw new AppError('UPSTREAM_UNAVAILABLE', 'This operation is unavailable for a moment. Try again shortly.');
      }
      if (count <= limit.max) continue;
      const retryAfterSeconds = Math.max(1, Math.ceil(resetInMs / 1000));
      // Once per window and counter: a client hammering away does not flood the log.
      if (count === limit.max + 1) this.log.warn({ operation, counter, clientIp, retryAfterSeconds }, 'rate limit reached');
      throw new AppError('RATE_LIMITED', `Too many attempts. Try again in ${inWords(retryAfterSeconds)}.`, { retryAfterSeconds });
    }
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

/**
 * Counts in this process only: right for one gateway process, and for tests. Holds at most
 * `maxKeys` windows: past that, the least recently counted goes, so that a flood of one-off
 * addresses or names cannot fill memory (L3). A window dropped that way starts again from 0;
 * several processes, or clients with many addresses, want REDIS_URL.
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly windows = new Map<string, { count: number; closesAt: number }>();
  private nextSweep = 0;

  constructor(private readonly maxKeys = 100_000) {}

  async hit(key: string, windowMs: number) {
    const now = Date.now();
    this.sweep(now);
    let window = this.windows.get(key);
    // Taken out and put back: a Map iterates in insertion order, so the first key is the least recently counted.
    this.windows.delete(key);
    if (!window || window.closesAt <= now) window = { count: 0, closesAt: now + windowMs };
    window.count += 1;
    this.windows.set(key, window);
    if (this.windows.size > this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
    return { count: window.count, resetInMs: window.closesAt - now };
  }

  /** Windows held now. */
  get size(): number {
    return this.windows.size;
  }

  async close() {
    this.windows.clear();
  }

  /** Closed windows are dropped now and then. */
  private sweep(now: number) {
    if (now < this.nextSweep) return;
    this.nextSweep = now + 60_000;
    for (const [key, window] of this.windows) if (window.closesAt <= now) this.windows.delete(key);
  }
}

/** Counts in Redis, so limits hold across every gateway process that shares it. */
export class RedisRateLimitStore implements RateLimitStore {
  private constructor(
    private readonly client: RedisClientType,
    private readonly keyPrefix: string,
  ) {}

  /**
   * Connects, failing when the first connection fails (a wrong REDIS_URL stops the start).
   * Later outages make `hit` fail at once, instead of queueing calls until Redis returns,
   * while the client reconnects in the background.
   */
  static async connect(url: string, keyPrefix: string, log: Logger): Promise<RedisRateLimitStore> {
    let connected = false;
    const client = createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 5_000,
        reconnectStrategy: (retries, cause) => (connected ? Math.min(100 * 2 ** retries, 5_000) : cause),
      },
    });
    // Without a listener, a connection error would crash the process.
    client.on('error', (error: unknown) => {
      if (connected) log.warn({ err: error }, 'Redis connection error (rate limits)');
    });
    try {
      await client.connect();
    } catch (error) {
      throw new Error(`Redis at REDIS_URL did not answer: ${(error as Error).message}`, { cause: error });
    }
    connected = true;
    return new RedisRateLimitStore(client, keyPrefix);
  }

  async hit(key: string, windowMs: number) {
    const redisKey = this.keyPrefix + key;
    // One atomic transaction: the first call of a window sets its expiry (NX), later ones only count.
    const [count, , resetInMs] = await this.client.multi().incr(redisKey).pExpire(redisKey, windowMs, 'NX').pTTL(redisKey).execTyped();
    return { count, resetInMs };
  }

  async close() {
    await this.client.close();
  }
}

/**
 * The address a caller is counted under. Behind `trustedProxies` reverse proxies, each of
 * which appends the address it saw to X-Forwarded-For, the client is the entry that many
 * places from the right; anything further left is what the client claimed, and is ignored.
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | undefined, trustedProxies: number): string {
  const hops = [...(forwardedFor ?? '').split(','), socketAddress ?? ''].map((hop) => hop.trim()).filter(Boolean);
  const address = hops[Math.max(0, hops.length - 1 - trustedProxies)] ?? 'unknown';
  // Node reports IPv4 callers of a dual-stack socket as ::ffff:a.b.c.d.
  const mapped = /^::ffff:(.+)$/i.exec(address)?.[1];
  return mapped && isIPv4(mapped) ? mapped : address;
}

/** IPv6 callers commonly hold a whole /64, so one counts as one network. */
export function networkOf(address: string): string {
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 32);
}

function inWords(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** The limiter the configuration asks for: counting in Redis when REDIS_URL is set, else in memory. */
export async function createRateLimiter(
  options: { limits: RateLimits; redis?: { url: string; keyPrefix: string } },
  log: Logger,
): Promise<RateLimiter> {
  const store = options.redis
    ? await RedisRateLimitStore.connect(options.redis.url, `${options.redis.keyPrefix}rate-limit:`, log)
    : new MemoryRateLimitStore();
  return new RateLimiter(store, options.limits, log);
}
