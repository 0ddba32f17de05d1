import { describe, expect, it } from 'vitest';
import { checkedAddresses, nonPublicRange, pinnedLookup, RefusedAddressError, urlProblem } from './address-policy.js';

const PRODUCTION = { allowPrivate: false };

/** The address a URL's host names, as the URL parser reads it: decimal, octal and hex forms become dotted quads. */
const hostAddress = (url: string) => new URL(url).hostname.replace(/^\[|\]$/g, '');

describe('the webhook address classifier', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    // IPv4-mapped IPv6: judged as the IPv4 address it carries.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    // IPv4 embedded in NAT64 or 6to4 prefixes is not plain unicast either.
    ['64:ff9b::7f00:1', 'rfc6052'],
    ['2002:7f00:1::', '6to4'],
    // IPv4-compatible (::/96) and anything else outside 2000::/3, where ipaddr.js says unicast.
    ['::7f00:1', 'notGlobalUnicast'],
    ['::a00:1', 'notGlobalUnicast'],
    ['4000::1', 'notGlobalUnicast'],
  ])('refuses %s (%s)', (address, range) => {
    expect(nonPublicRange(address)).toBe(range);
  });

  it.each(['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8', '172.32.0.1', '11.0.0.1'])(
    'accepts the public %s',
    (address) => {
      expect(nonPublicRange(address)).toBeUndefined();
    },
  );

  it.each([
    ['http://2130706433/', '127.0.0.1'],
    ['http://0177.0.0.1/', '127.0.0.1'],
    ['http://0x7f.1/', '127.0.0.1'],
    ['http://127.1/', '127.0.0.1'],
    ['http://0x7f000001/', '127.0.0.1'],
    ['http://017700000001/', '127.0.0.1'],
    ['http://0xa.0.0.1/', '10.0.0.1'],
    ['http://3232235777/', '192.168.1.1'],
    ['http://[::ffff:127.0.0.1]/', '::ffff:7f00:1'],
    ['http://[0:0:0:0:0:0:0:1]/', '::1'],
  ])('reads %s as %s, which is refused', (url, address) => {
    expect(hostAddress(url)).toBe(address);
    expect(nonPublicRange(hostAddress(url))).toBeDefined();
  });
});

describe('webhook URLs', () => {
  it.each([
    ['ftp://example.com/', 'must be an http or https URL'],
    ['file:///etc/passwd', 'must be an http or https URL'],
    ['not a url', 'must be an absolute http(s) URL'],
    ['https://user:pass@example.com/', 'must not carry a user name or password'],
    ['https://example.com/#x', 'must not have a #fragment'],
  ])('refuses %s', (url, problem) => {
    expect(urlProblem(url).problem).toBe(problem);
  });

  it('refuses a name any of whose addresses is not public, and keeps the checked ones', async () => {
    const resolve = async (host: string) => (host === 'mixed.test' ? ['93.184.216.34', '10.0.0.7'] : ['93.184.216.34']);
    await expect(checkedAddresses(new URL('https://mixed.test/'), PRODUCTION, resolve)).rejects.toThrow(RefusedAddressError);
    await expect(checkedAddresses(new URL('https://public.test/'), PRODUCTION, resolve)).resolves.toEqual(['93.184.216.34']);
    await expect(checkedAddresses(new URL('https://mixed.test/'), { allowPrivate: true }, resolve)).resolves.toHaveLength(2);
  });

  it('connects only to the addresses it checked: a name that now resolves to loopback (DNS rebinding) is refused', async () => {
    let answer = ['93.184.216.34'];
    const lookup = pinnedLookup(PRODUCTION, async () => answer);
    const ask = (options: { all?: boolean; family?: number }) =>
      new Promise<unknown>((resolve, reject) =>
        lookup('rebind.test', options as never, (error, address, family) => (error ? reject(error) : resolve({ address, family }))),
      );
    await expect(ask({})).resolves.toEqual({ address: '93.184.216.34', family: 4 });
    await expect(ask({ all: true })).resolves.toEqual({ address: [{ address: '93.184.216.34', family: 4 }], family: undefined });
    answer = ['127.0.0.1'];
    await expect(ask({})).rejects.toThrow(/non-public address \(loopback\)/);
    answer = ['::ffff:169.254.169.254'];
    await expect(ask({ all: true })).rejects.toThrow(RefusedAddressError);
  });
});
