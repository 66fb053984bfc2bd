import { BlockList, isIP } from 'node:net';

/** IPv4-mapped IPv6 (`::ffff:192.0.2.1`) is the IPv4 address (SPEC §5; RFC 4291 §2.5.5.2). */
export function canonicalIp(address: string): string {
  if (address.length > 7 && address.slice(0, 7).toLowerCase() === '::ffff:' && isIP(address.slice(7)) === 4) return address.slice(7);
  return address;
}

/** A set of CIDRs compiled once into node's BlockList. */
export class CidrSet {
  readonly #list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address = '', prefix] = cidr.split('/');
      const ip = canonicalIp(address);
      const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
      const bits = prefix === undefined ? (family === 'ipv4' ? 32 : 128) : Number(prefix) - (ip !== address ? 96 : 0);
      this.#list.addSubnet(ip, Math.max(0, bits), family);
    }
    this.size = cidrs.length;
  }

  has(address: string): boolean {
    if (this.size === 0) return false;
    const ip = canonicalIp(address);
    const family = isIP(ip);
    if (family === 0) return false;
    return this.#list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * The client address: the socket's, or — when the socket belongs to a trusted proxy — the
 * right-most address in X-Forwarded-For that is not itself a trusted proxy. Left-most entries are
 * whatever the client claimed and are never believed (MDN X-Forwarded-For, "Security and privacy").
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | string[] | undefined, trusted: CidrSet): string {
  let ip = canonicalIp(socketAddress ?? '');
  if (trusted.size === 0 || !trusted.has(ip) || forwardedFor === undefined) return ip;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',');
  for (let i = hops.length - 1; i >= 0; i -= 1) {
    const hop = canonicalIp(hops[i]!.trim());
    if (isIP(hop) === 0) return ip;
    ip = hop;
    if (!trusted.has(hop)) return hop;
  }
  return ip;
}
