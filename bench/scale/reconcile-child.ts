/**
 * One full comparison of the reconciler (or, with `list`, only its reading of Keycloak's users),
 * in a process of its own so that its peak memory is its own: forked by bench/scale/reconcile.ts
 * with the size's environment, it answers one ReconcileMeasurement over IPC and exits.
 */
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/database.js';
import { createJobs } from '../../src/jobs/jobs.js';
import { createKeycloakAdmin } from '../../src/keycloak/admin-client.js';
import { createLogger } from '../../src/logger.js';
import { createServices, serviceDependencies } from '../../src/services.js';

export interface ReconcileMeasurement {
  seconds: number;
  /** The process's highest resident set, in bytes (the kernel's count). */
  peakRss: number;
  /** The highest heap in use, sampled every 20 ms, in bytes. */
  peakHeapUsed: number;
  /** The same process just before the measured work, its connections open. */
  restRss: number;
  restHeapUsed: number;
  usersHeldAtMost: number;
  /** What the comparison changed: nothing, on a mirror equal to Keycloak. */
  healed: string;
}

/** Keycloak's users read per page: the reconciler's own page size (src/jobs/reconciler.ts). */
const PAGE_SIZE = 500;

const mode = process.argv[2] === 'list' ? 'list' : 'reconcile';
const config = loadConfig(process.env);
const log = createLogger({ level: 'warn' });
const orm = await openDatabase(config.databaseUrl);
const keycloak = createKeycloakAdmin({
  url: config.keycloak.url,
  realm: config.keycloak.realm,
  clientId: config.keycloak.apiClientId,
  clientSecret: config.keycloak.apiClientSecret,
  timeoutMs: config.keycloak.timeoutSeconds * 1000,
});
const dependencies = serviceDependencies(config, keycloak.client);
const jobs = createJobs({ em: orm.em, services: dependencies, log, config: config.jobs });
const directory = createServices(orm.em.fork(), dependencies, log).directories(null);
// Warm: a token for the service account and a connection, so that "at rest" has them.
await directory.list(0, 1);
await orm.em.getConnection().execute('select 1');

globalThis.gc?.();
const rest = process.memoryUsage();
let peakHeapUsed = rest.heapUsed;
const sampler = setInterval(() => {
  peakHeapUsed = Math.max(peakHeapUsed, process.memoryUsage().heapUsed);
}, 20);
const started = performance.now();
let usersHeldAtMost = 0;
let healed = 'nothing';
if (mode === 'list') {
  for (let first = 0; ; first += PAGE_SIZE) {
    const page = await directory.list(first, PAGE_SIZE);
    usersHeldAtMost = Math.max(usersHeldAtMost, page.length);
    if (page.length < PAGE_SIZE) break;
  }
  healed = '—';
} else {
  const run = await jobs.reconcile();
  usersHeldAtMost = run.usersHeldAtMost;
  const { usersHeldAtMost: _held, ...changes } = run;
  const changed = Object.entries(changes).filter(([, count]) => count > 0);
  if (changed.length > 0) healed = changed.map(([what, count]) => `${what} ${count}`).join(', ');
}
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);
peakHeapUsed = Math.max(peakHeapUsed, process.memoryUsage().heapUsed);
const measurement: ReconcileMeasurement = {
  seconds,
  peakRss: process.resourceUsage().maxRSS * 1024,
  peakHeapUsed,
  restRss: rest.rss,
  restHeapUsed: rest.heapUsed,
  usersHeldAtMost,
  healed,
};
await jobs.stop();
await orm.close();
process.send!(measurement, () => process.exit(0));
