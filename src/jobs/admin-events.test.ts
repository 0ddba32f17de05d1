import { describe, expect, it } from 'vitest';
import type { AdminEvent, AdminEventsReader } from '../keycloak/admin-events.js';
import { type Checkpoint, type CheckpointStore, OVERLAP_MS, readIncrementally } from './admin-events.js';

const GATEWAY = 'gateway-service-account';
const ADMIN = 'console-admin';

/** A realm's admin events in memory, answered as Keycloak does: from `dateFrom` on, oldest first, by position. */
function fakeRealm() {
  const events: AdminEvent[] = [];
  let counter = 0;
  const reader: AdminEventsReader = {
    realm: 'iam',
    read: async (fromMs, first, max) =>
      events
        .filter((event) => event.time >= fromMs)
        .sort((a, b) => a.time - b.time)
        .slice(first, first + max),
    newestTime: async () => (events.length > 0 ? Math.max(...events.map((event) => event.time)) : null),
    gatewayUserId: async () => GATEWAY,
  };
  /** Keycloak stores an event stamped `time` (possibly earlier than some already stored: a late commit). */
  const record = (time: number, authUserId = ADMIN): AdminEvent => {
    const event = {
      id: `event-${++counter}`,
      time,
      operationType: 'UPDATE',
      resourceType: 'USER',
      resourcePath: `users/u${counter}`,
      authUserId,
    };
    events.push(event);
    return event;
  };
  return { reader, record };
}

function memoryStore(): CheckpointStore & { checkpoints: Map<string, Checkpoint> } {
  const checkpoints = new Map<string, Checkpoint>();
  return {
    checkpoints,
    read: async (realm) => {
      const kept = checkpoints.get(realm);
      return kept && { readUntil: kept.readUntil, seen: new Map(kept.seen) };
    },
    write: async (realm, checkpoint) => {
      checkpoints.set(realm, { readUntil: checkpoint.readUntil, seen: new Map(checkpoint.seen) });
    },
  };
}

/** Runs the reader once, recording the ids handed to `apply`; `defer` names the ids to leave for later. */
async function runOnce(realm: ReturnType<typeof fakeRealm>, store: CheckpointStore, defer: Set<string> = new Set(), pageSize = 100) {
  const handed: string[] = [];
  const counts = await readIncrementally(realm.reader, store, pageSize, async (outside) => {
    handed.push(...outside.map((event) => event.id));
    return new Set(outside.filter((event) => defer.has(event.id)));
  });
  return { handed, counts };
}

describe('reading admin events incrementally', () => {
  it('starts at the newest event the first time, then hands each later event once, and a run with nothing new hands nothing', async () => {
    const realm = fakeRealm();
    const store = memoryStore();
    const start = 1_000_000;
    realm.record(start - 60_000);
    realm.record(start);

    expect((await runOnce(realm, store)).handed).toEqual([]);
    expect(store.checkpoints.get('iam')!.readUntil).toBe(start);

    const later = [realm.record(start + 10), realm.record(start + 20)];
    const second = await runOnce(realm, store);
    // The event at the checkpoint is in the window read again; the one a minute older is not.
    expect(second.handed).toEqual(['event-2', ...later.map((event) => event.id)]);
    expect(store.checkpoints.get('iam')!.readUntil).toBe(start + 20);

    expect((await runOnce(realm, store)).handed).toEqual([]);
  });

  it('hands over every event of one millisecond once, however many pages they fill', async () => {
    const realm = fakeRealm();
    const store = memoryStore();
    await runOnce(realm, store);
    const burst = Array.from({ length: 250 }, () => realm.record(5_000_000).id);
    realm.record(5_000_001);

    const { handed } = await runOnce(realm, store, new Set(), 100);
    expect(handed.filter((id) => burst.includes(id))).toEqual(burst);
    expect(new Set(handed).size).toBe(handed.length);
    expect((await runOnce(realm, store, new Set(), 100)).handed).toEqual([]);
  });

  it('an event committed after a later one was read, stamped earlier, is still handed over', async () => {
    const realm = fakeRealm();
    const store = memoryStore();
    await runOnce(realm, store);
    realm.record(2_000_000);
    await runOnce(realm, store);
    const late = realm.record(2_000_000 - OVERLAP_MS / 2);

    expect((await runOnce(realm, store)).handed).toEqual([late.id]);
  });

  it("skips the gateway's own events, counting them as echoes", async () => {
    const realm = fakeRealm();
    const store = memoryStore();
    await runOnce(realm, store);
    realm.record(3_000_000, GATEWAY);
    const outside = realm.record(3_000_001);

    const { handed, counts } = await runOnce(realm, store);
    expect(handed).toEqual([outside.id]);
    expect(counts).toEqual({ applied: 1, echoes: 1, deferred: 0 });
  });

  it('a deferred event holds the checkpoint back and is handed over again at the next run, until applied', async () => {
    const realm = fakeRealm();
    const store = memoryStore();
    await runOnce(realm, store);
    const busy = realm.record(4_000_000);
    realm.record(4_000_000 + 3 * OVERLAP_MS);

    const first = await runOnce(realm, store, new Set([busy.id]));
    expect(first.counts).toEqual({ applied: 1, echoes: 0, deferred: 1 });
    expect(store.checkpoints.get('iam')!.readUntil).toBe(busy.time);

    expect((await runOnce(realm, store)).handed).toEqual([busy.id]);
    expect(store.checkpoints.get('iam')!.readUntil).toBe(4_000_000 + 3 * OVERLAP_MS);
    expect((await runOnce(realm, store)).handed).toEqual([]);
  });
});
