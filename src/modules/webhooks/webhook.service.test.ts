import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../journal/journal.js';
import type { EventFeed } from './webhook.events.js';
import { SecretBox } from './webhook-secrets.js';
import { ROTATION_OVERLAP_MS, WebhookService } from './webhook.service.js';
import { InMemoryWebhooks } from './webhooks.queries.fake.js';

const ADMIN = '11111111-1111-4111-8111-111111111111';
const box = new SecretBox('unit-test server secret');
const feed: EventFeed = { channel: 'identity_events', head: async () => '42', after: async () => [], byIds: async () => [] };
/** A resolver that knows a few names, as DNS would answer them. */
const resolve = async (host: string) => {
  const known: Record<string, string[]> = {
    'hooks.example.com': ['93.184.216.34'],
    'internal.example.com': ['10.0.0.8'],
    'split.example.com': ['93.184.216.34', '::1'],
  };
  if (!known[host]) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return known[host];
};

function service(allowPrivate = false) {
  const queries = new InMemoryWebhooks();
  const entries: JournalEntry[] = [];
  let now = new Date('2026-12-04T12:00:00Z');
  const webhooks = new WebhookService({
    box,
    policy: { allowPrivate },
    resolve,
    feed,
    now: () => now,
    queries,
    journal: {
      async writeLocal(entry, local) {
        entries.push(entry);
        return local(undefined as never);
      },
    },
  });
  return { webhooks, queries, entries, moveTo: (at: Date) => (now = at) };
}

describe('webhook endpoints', () => {
  it('are created with a secret shown once and stored sealed, starting after the newest event, journalled by origin only', async () => {
    const { webhooks, queries, entries } = service();
    const { endpoint, secret } = await webhooks.create(
      { url: 'https://hooks.example.com/in/T0K3N?key=abc', eventTypes: ['USER_CREATED', 'USER_CREATED'] },
      ADMIN,
    );
    expect(secret).toMatch(/^whsec_/);
    expect(endpoint).toMatchObject({ url: 'https://hooks.example.com/in/T0K3N?key=abc', eventTypes: ['USER_CREATED'], enabled: true });
    const [stored] = queries.endpoints;
    expect(stored!.eventPosition).toBe('42');
    expect(stored!.sealedSecret).not.toContain(secret.slice(6));
    expect(box.open(stored!.sealedSecret, endpoint.id)).toBe(secret);
    expect(entries).toEqual([
      {
        action: 'WEBHOOK_ENDPOINT_CREATE',
        targetType: 'WebhookEndpoint',
        targetId: endpoint.id,
        actorId: ADMIN,
        details: { origin: 'https://hooks.example.com', eventTypes: ['USER_CREATED'] },
      },
    ]);
  });

  it.each([
    ['https://internal.example.com/hook', 'must be a public address: the host resolves to a non-public address (private)'],
    ['https://split.example.com/hook', 'must be a public address: the host resolves to a non-public address (loopback)'],
    ['https://nowhere.example.com/hook', 'names a host that could not be resolved'],
    ['http://[::ffff:192.168.1.1]/hook', 'must be a public address: the host resolves to a non-public address (private)'],
    ['gopher://hooks.example.com/', 'must be an http or https URL'],
  ])('refuse %s in production, storing and journalling nothing', async (url, problem) => {
    const { webhooks, queries, entries } = service();
    await expect(webhooks.create({ url }, ADMIN)).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      details: { fieldErrors: { url: problem } },
    });
    expect(queries.endpoints).toEqual([]);
    expect(entries).toEqual([]);
  });

  it('may point at private addresses where the policy allows them (development)', async () => {
    const { webhooks } = service(true);
    await expect(webhooks.create({ url: 'http://127.0.0.1:9000/hook' }, ADMIN)).resolves.toMatchObject({ endpoint: { enabled: true } });
  });

  it('check a new URL on update as on creation', async () => {
    const { webhooks } = service();
    const { endpoint } = await webhooks.create({ url: 'https://hooks.example.com/a' }, ADMIN);
    await expect(webhooks.update(endpoint.id, { url: 'http://169.254.169.254/latest' }, ADMIN)).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
    });
    await expect(webhooks.update(endpoint.id, { url: 'https://hooks.example.com/b' }, ADMIN)).resolves.toMatchObject({
      url: 'https://hooks.example.com/b',
    });
  });

  it('rotate to a new secret, keeping the previous one for 24 hours', async () => {
    const { webhooks, queries, entries } = service();
    const { endpoint, secret: first } = await webhooks.create({ url: 'https://hooks.example.com/a' }, ADMIN);
    const { secret: second } = await webhooks.rotate(endpoint.id, ADMIN);
    expect(second).not.toBe(first);
    const [stored] = queries.endpoints;
    expect(box.open(stored!.sealedSecret, endpoint.id)).toBe(second);
    expect(box.open(stored!.sealedPreviousSecret!, endpoint.id)).toBe(first);
    expect(stored!.previousSecretUntil).toEqual(new Date(new Date('2026-12-04T12:00:00Z').getTime() + ROTATION_OVERLAP_MS));
    expect(JSON.stringify(entries)).not.toContain(second.slice(6));
    expect(JSON.stringify(entries)).not.toContain(first.slice(6));
  });

  it('answer NOT_FOUND for an unknown or malformed id', async () => {
    const { webhooks } = service();
    await expect(webhooks.rotate('nope', ADMIN)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(webhooks.delete('22222222-2222-4222-8222-222222222222', ADMIN)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(webhooks.redeliver('22222222-2222-4222-8222-222222222222', ADMIN)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('redeliver only to an enabled endpoint, waking the delivery workers', async () => {
    const { webhooks, queries } = service();
    const { endpoint } = await webhooks.create({ url: 'https://hooks.example.com/a' }, ADMIN);
    const delivery = {
      id: '33333333-3333-4333-8333-333333333333',
      endpointId: endpoint.id,
      eventId: '44444444-4444-4444-8444-444444444444',
      status: 'FAILED' as const,
      attempts: 25,
      lastAttemptAt: new Date(),
      nextAttemptAt: null,
      responseStatus: 500,
      eventAt: new Date(),
    };
    queries.deliveries.push(delivery);
    await webhooks.update(endpoint.id, { enabled: false }, ADMIN);
    await expect(webhooks.redeliver(delivery.id, ADMIN)).rejects.toMatchObject({ code: 'CONFLICT' });
    await webhooks.update(endpoint.id, { enabled: true }, ADMIN);
    const announced = queries.announcements;
    await expect(webhooks.redeliver(delivery.id, ADMIN)).resolves.toMatchObject({ status: 'PENDING' });
    expect(queries.announcements).toBe(announced + 1);
  });
});
