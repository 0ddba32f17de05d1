import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Where webhooks may be sent (SSRF). A URL names a host; what counts is the address the
 * connection reaches, so the check runs twice: when an endpoint is saved (a clear error for
 * the administrator) and inside each delivery's connection, on the addresses DNS gave for
 * that very connection (`pinnedLookup`): a name that resolved to a public address at
 * creation and to 127.0.0.1 later (DNS rebinding) is refused at delivery.
 *
 * ipaddr.js classifies the addresses (its ranges follow the RFCs: loopback, RFC 1918,
 * link-local, unique-local, multicast, unspecified, carrier-grade NAT, documentation and
 * reserved blocks, NAT64, 6to4, Teredo...). Only what it calls plain `unicast` is public; an
 * IPv4-mapped IPv6 address is judged as the IPv4 address it carries. Forms such as
 * 2130706433, 0177.0.0.1 or 0x7f.1 never reach it as such: the WHATWG URL parser turns them
 * into 127.0.0.1, and this module parses hosts only through it.
 */
export interface AddressPolicy {
  /** Loopback, private and other non-public addresses allowed (development, tests). */
  allowPrivate: boolean;
}

/** The one IPv6 block allocated for global unicast (IANA's IPv6 address space registry). */
const GLOBAL_UNICAST_IPV6 = ipaddr.parseCIDR('2000::/3');

/** Why an address is not public, in a word ('loopback', 'private', ...); undefined for a public one. */
export function nonPublicRange(address: string): string | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // process(): an IPv4-mapped IPv6 address (::ffff:127.0.0.1) becomes the IPv4 address it maps.
    parsed = ipaddr.process(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  } catch {
    return 'not an IP address';
  }
  const range = parsed.range();
  if (range !== 'unicast') return range;
  // ipaddr.js calls every IPv6 address of no special range 'unicast', ::7f00:1 included: the
  // IPv4-compatible form (::/96, deprecated by RFC 4291) that the URL parser makes of
  // [::127.0.0.1], which IPv6-in-IPv4 tunnels and translators carry to 127.0.0.1. Only
  // 2000::/3 is allocated for global unicast (IANA): anything else is not a public address.
  if (parsed.kind() === 'ipv6' && !parsed.match(GLOBAL_UNICAST_IPV6)) return 'notGlobalUnicast';
  return undefined;
}

/** A URL's problem as an endpoint's address, in words for the administrator; undefined when it may be saved. */
export function urlProblem(value: string): { url?: URL; problem?: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: 'must be an absolute http(s) URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { problem: 'must be an http or https URL' };
  if (url.username || url.password) return { problem: 'must not carry a user name or password' };
  if (url.hash) return { problem: 'must not have a #fragment' };
  if (!url.hostname) return { problem: 'must name a host' };
  return { url };
}

/** The hostname of a URL as an address for connecting and checking: brackets dropped from IPv6. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

export type Resolver = (hostname: string) => Promise<string[]>;

/** Every address DNS gives for a name (IPv4 and IPv6), as a connection would see them. */
export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses: LookupAddress[]) =>
      error ? reject(error) : resolve(addresses.map(({ address }) => address)),
    ),
  );

/** Raised when a host is or resolves to an address the policy refuses; its message names the range, never a secret. */
export class RefusedAddressError extends Error {
  override name = 'RefusedAddressError';
  readonly code = 'EWEBHOOKADDRESS';
}

/**
 * The addresses of `url`'s host, refusing the whole host when any of them is not public:
 * a name with one public and one private address would otherwise reach the private one by
 * chance (or by a racing resolver).
 */
export async function checkedAddresses(url: URL, policy: AddressPolicy, resolve: Resolver = systemResolver): Promise<string[]> {
  const host = hostOf(url);
  const addresses = isIP(host) ? [host] : await resolve(host);
  if (addresses.length === 0) throw new RefusedAddressError(`${host} has no address`);
  if (!policy.allowPrivate) {
    for (const address of addresses) {
      const range = nonPublicRange(address);
      if (range) throw new RefusedAddressError(`resolves to a non-public address (${range})`);
    }
  }
  return addresses;
}

/**
 * A `lookup` for Node's connections (node:http `lookup` option) that resolves once, refuses
 * non-public addresses under the policy, and hands the connection exactly the addresses it
 * checked: the check and the connection cannot see two different answers.
 */
export function pinnedLookup(policy: AddressPolicy, resolve: Resolver = systemResolver): LookupFunction {
  return (hostname, options, callback) => {
    checkedAddresses(new URL(`http://${isIP(hostname) === 6 ? `[${hostname}]` : hostname}/`), policy, resolve).then(
      (addresses) => {
        const family = (address: string) => (isIP(address) === 6 ? 6 : 4);
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => family(a) === options.family) : addresses;
        if (wanted.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no IPv${options.family} address`), { code: 'ENOTFOUND' }), '', 4);
        } else if (options.all) {
          (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(
            null,
            wanted.map((address) => ({ address, family: family(address) })),
          );
        } else {
          callback(null, wanted[0]!, family(wanted[0]!));
        }
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 4),
    );
  };
}
