import { describe, expect, it } from 'vitest';
import { eventScope, latestEvents, mergeEvents, scopeFilter, subjectName } from './events';

const tenant = (id: string, role: string) => ({ role, tenant: { id } });

describe('eventScope: who reads which identity events', () => {
  it('gives role_admin every event, whatever tenant they work in', () => {
    expect(eventScope({ roles: ['role_admin'], currentTenant: null, tenants: [] })).toEqual({ all: true });
    expect(eventScope({ roles: ['role_user', 'role_admin'], currentTenant: { id: 't1' }, tenants: [tenant('t1', 'MEMBER')] })).toEqual({
      all: true,
    });
  });

  it("gives a tenant's OWNER or ADMIN that tenant's events while they work in it", () => {
    const tenants = [tenant('t1', 'OWNER'), tenant('t2', 'ADMIN'), tenant('t3', 'MEMBER')];
    expect(eventScope({ roles: ['role_user'], currentTenant: { id: 't1' }, tenants })).toEqual({ tenantId: 't1' });
    expect(eventScope({ roles: ['role_user'], currentTenant: { id: 't2' }, tenants })).toEqual({ tenantId: 't2' });
  });

  it('gives none to a member, to someone working in no tenant, or in a tenant they no longer belong to', () => {
    const tenants = [tenant('t1', 'OWNER'), tenant('t3', 'MEMBER')];
    expect(eventScope({ roles: ['role_user'], currentTenant: { id: 't3' }, tenants })).toBeNull();
    expect(eventScope({ roles: ['role_user'], currentTenant: null, tenants })).toBeNull();
    expect(eventScope({ roles: ['role_manager'], currentTenant: { id: 't9' }, tenants })).toBeNull();
  });

  it('names the tenant in the filter only for a tenant scope', () => {
    expect(scopeFilter({ all: true })).toEqual({});
    expect(scopeFilter({ tenantId: 't1' })).toEqual({ tenantId: 't1' });
  });
});

describe('mergeEvents and latestEvents', () => {
  const event = (id: string) => ({ id });

  it('keeps the order read, then the live events, each event once', () => {
    expect(mergeEvents([event('a'), event('b')], [event('b'), event('c'), event('c')])).toEqual([event('a'), event('b'), event('c')]);
    expect(mergeEvents([], [event('x')])).toEqual([event('x')]);
  });

  it('shows the newest events last and counts the older ones hidden', () => {
    const all = ['a', 'b', 'c', 'd', 'e'].map(event);
    expect(latestEvents(all, 3)).toEqual({ shown: all.slice(2), older: 2 });
    expect(latestEvents(all, 10)).toEqual({ shown: all, older: 0 });
    expect(latestEvents([], 3)).toEqual({ shown: [], older: 0 });
  });
});

describe('subjectName', () => {
  it('names the subject by its email or name, from after, or from before when it was deleted', () => {
    expect(subjectName({ before: null, after: { id: 'u1', email: 'ada@example.test', name: 'x' } })).toBe('ada@example.test');
    expect(subjectName({ before: { name: 'role_auditor' }, after: null })).toBe('role_auditor');
    expect(subjectName({ before: null, after: { id: 'm1', role: 'ADMIN' } })).toBeNull();
    expect(subjectName({})).toBeNull();
  });
});
