/** The tenant the page works in, sent as X-Tenant-ID with every request; kept for the tab's life. */
const KEY = 'iam-example.tenant';

export function currentTenantId(): string | null {
  return window.sessionStorage.getItem(KEY);
}

export function setCurrentTenantId(tenantId: string | null): void {
  if (tenantId) window.sessionStorage.setItem(KEY, tenantId);
  else window.sessionStorage.removeItem(KEY);
}
