/**
 * What the Events page shows and to whom: pure functions, unit-tested in events.test.ts.
 */

/** The parts of `me` that decide who reads identity events (the gateway's rule for `events` and `identityEvents`). */
export interface EventReader {
  roles: readonly string[];
  currentTenant: { id: string } | null;
  tenants: readonly { role: string; tenant: { id: string } }[];
}

/** Which events a person reads: all of them, one tenant's, or none. */
export type EventScope = { all: true } | { tenantId: string };

/**
 * role_admin reads every event; a tenant's OWNER or ADMIN reads that tenant's, and must name
 * it in the filter, so the current tenant decides which; anyone else reads none (null).
 */
export function eventScope(me: EventReader): EventScope | null {
  if (me.roles.includes('role_admin')) return { all: true };
  const current = me.currentTenant;
  if (!current) return null;
  const membership = me.tenants.find(({ tenant }) => tenant.id === current.id);
  return membership && (membership.role === 'OWNER' || membership.role === 'ADMIN') ? { tenantId: current.id } : null;
}

/** The `filter` of `events` and `identityEvents` for a scope. */
export function scopeFilter(scope: EventScope): { tenantId?: string } {
  return 'tenantId' in scope ? { tenantId: scope.tenantId } : {};
}

/**
 * The events read by the query (commit order) followed by those that arrived live since, each
 * once: after a reconnection the page reads what it missed with the query, which may return an
 * event the subscription also delivered.
 */
export function mergeEvents<Event extends { id: string }>(read: readonly Event[], live: readonly Event[]): Event[] {
  const seen = new Set<string>();
  const merged: Event[] = [];
  for (const event of [...read, ...live]) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    merged.push(event);
  }
  return merged;
}

/** The newest `count` events, newest last, and how many older ones are hidden. */
export function latestEvents<Event>(all: readonly Event[], count: number): { shown: Event[]; older: number } {
  const start = Math.max(0, all.length - count);
  return { shown: all.slice(start), older: start };
}

/** A readable name for an event's subject from its snapshot (an email, a name), if it has one. */
export function subjectName(event: { before?: Record<string, unknown> | null; after?: Record<string, unknown> | null }): string | null {
  const snapshot = event.after ?? event.before;
  for (const key of ['email', 'name', 'groupName']) {
    const value = snapshot?.[key];
    if (typeof value === 'string' && value) return value;
  }
  return null;
}
