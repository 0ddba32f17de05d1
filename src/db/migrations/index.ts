import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122031851 } from './Migration20261122031851.js';
import { Migration20261122033233 } from './Migration20261122033233.js';
import { Migration20261122033736 } from './Migration20261122033736.js';
import { Migration20261122034152 } from './Migration20261122034152.js';
import { Migration20261122040538 } from './Migration20261122040538.js';
import { Migration20261122041250 } from './Migration20261122041250.js';
import { Migration20261122062000 } from './Migration20261122062000.js';
import { Migration20261201222425 } from './Migration20261201222425.js';
import { Migration20261201223841 } from './Migration20261201223841.js';
import { Migration20261201230000 } from './Migration20261201230000.js';
import { Migration20261204225500 } from './Migration20261204225500.js';
import { Migration20261204232000 } from './Migration20261204232000.js';
import { Migration20261204233000 } from './Migration20261204233000.js';
import { Migration20261204230000 } from './Migration20261204230000.js';
import { Migration20261205000000 } from './Migration20261205000000.js';
import { Migration20261205002500 } from './Migration20261205002500.js';
import { Migration20261205004000 } from './Migration20261205004000.js';
import { Migration20261205015200 } from './Migration20261205015200.js';
import { Migration20261205020100 } from './Migration20261205020100.js';

/** Every migration, oldest first. `npm run migration:create` writes new ones; list them here. */
export const MIGRATIONS: MigrationObject[] = [
  // users
  { name: 'Migration20261122031851', class: Migration20261122031851 },
  // realm roles and privileges, groups, their links, the audit journal
  { name: 'Migration20261122033233', class: Migration20261122033233 },
  // tenants and memberships
  { name: 'Migration20261122033736', class: Migration20261122033736 },
  // invitations
  { name: 'Migration20261122034152', class: Migration20261122034152 },
  // background sync queue, job leases, idempotency keys
  { name: 'Migration20261122040538', class: Migration20261122040538 },
  // realm tenancy: a tenant's realm; users unique per realm
  { name: 'Migration20261122041250', class: Migration20261122041250 },
  // users announce their changes (NOTIFY users_changed) to the processes' record caches
  { name: 'Migration20261122062000', class: Migration20261122062000 },
  // effective roles: subgroups with their parent, composite links beyond role → privilege
  { name: 'Migration20261201222425', class: Migration20261201222425 },
  // idempotency keys keep no secrets: rows stored with tokens go
  { name: 'Migration20261201223841', class: Migration20261201223841 },
  // revocation: whom the gateway saw deleted; changes of effective roles announced too (NOTIFY users_changed)
  { name: 'Migration20261201230000', class: Migration20261201230000 },
  // sessions ended (endUserSessions, signOutEverywhere): the user's earlier access tokens are refused
  { name: 'Migration20261204225500', class: Migration20261204225500 },
  // identity events: the transactional outbox, filled by triggers on the mirror (src/events/outbox.ts)
  { name: 'Migration20261204230000', class: Migration20261204230000 },
  // where the admin-events reader stopped in each realm
  { name: 'Migration20261204232000', class: Migration20261204232000 },
  // a million users: trigram search, the users' count kept by triggers
  { name: 'Migration20261204233000', class: Migration20261204233000 },
  // webhooks: endpoints (signing secrets sealed) and their deliveries
  { name: 'Migration20261205000000', class: Migration20261205000000 },
  // a user's identity events belong to no tenant (ATTACK2-15)
  { name: 'Migration20261205002500', class: Migration20261205002500 },
  // identity events: a role or group that goes changes its holders' lists too
  { name: 'Migration20261205004000', class: Migration20261205004000 },
  // the job leases go: the jobs run on pg-boss queues
  { name: 'Migration20261205015200', class: Migration20261205015200 },
  // identity events: GROUP_MEMBERS_CHANGED tells the change, not the member list twice (ATTACK3-3)
  { name: 'Migration20261205020100', class: Migration20261205020100 },
];
