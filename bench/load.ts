/**
 * The load generator: autocannon, in a process of its own (never the server's), forked by
 * the bench with its options as JSON in argv. It warms the server up, then measures, and
 * sends back requests/s and latency percentiles computed from every response's own
 * time (autocannon's histogram keeps whole milliseconds only).
 */
import autocannon, { type Options, type Result } from 'autocannon';

export interface LoadOptions {
  url: string;
  body: string;
  headers: Record<string, string>;
  connections: number;
  durationSeconds: number;
  warmupSeconds: number;
  /** When set, this many requests instead of a duration. */
  amount?: number;
}

export interface LoadResult {
  /** Successful (2xx) responses in the measured window. */
  requests: number;
  durationSeconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Connection errors, timeouts and non-2xx answers. */
  failures: number;
  /** Smallest and largest response (headers included): a stray error page shows here. */
  bytes: { min: number; max: number };
}

/** The value at or below which `fraction` of the sorted values lie (nearest rank). */
export function percentile(sorted: ArrayLike<number>, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}

/** The same, of samples in any order, with `p` in percent. */
export function percentileOf(samples: readonly number[], p: number): number {
  return percentile(
    [...samples].sort((a, b) => a - b),
    p / 100,
  );
}

function run(options: Options, onResponse?: (status: number, bytes: number, ms: number) => void): Promise<Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
    if (onResponse) instance.on('response', (_client, status, bytes, ms) => onResponse(status, bytes, ms));
  });
}

async function measure(load: LoadOptions): Promise<LoadResult> {
  const base: Options = {
    url: load.url,
    method: 'POST',
    headers: load.headers,
    body: load.body,
    connections: load.connections,
    timeout: 30,
  };
  if (load.warmupSeconds > 0) await run({ ...base, duration: load.warmupSeconds });

  let times = new Float64Array(1 << 16);
  let count = 0;
  const bytes = { min: Number.POSITIVE_INFINITY, max: 0 };
  const window = load.amount ? { amount: load.amount } : { duration: load.durationSeconds };
  const result = await run({ ...base, ...window }, (status, size, ms) => {
    if (status < 200 || status >= 300) return;
    if (count === times.length) {
      const grown = new Float64Array(times.length * 2);
      grown.set(times);
      times = grown;
    }
    times[count++] = ms;
    bytes.min = Math.min(bytes.min, size);
    bytes.max = Math.max(bytes.max, size);
  });
  const sorted = times.subarray(0, count).sort();
  const durationSeconds = (result.finish.getTime() - result.start.getTime()) / 1000;
  return {
    requests: count,
    durationSeconds,
    requestsPerSecond: count / durationSeconds,
    p50Ms: percentile(sorted, 0.5),
    p95Ms: percentile(sorted, 0.95),
    p99Ms: percentile(sorted, 0.99),
    failures: result.errors + result.timeouts + result.non2xx,
    bytes: { min: count > 0 ? bytes.min : 0, max: bytes.max },
  };
}

if (process.send) {
  const load = JSON.parse(process.argv[2]!) as LoadOptions;
  measure(load).then(
    (result) => process.send!({ result }, () => process.exit(0)),
    (error: unknown) => process.send!({ error: String(error) }, () => process.exit(1)),
  );
}
