import { describe, expect, it } from 'vitest';
import { CidrSet, canonicalIp, clientAddress } from './address.js';
import { IpRules } from './ip-rules.js';

describe('canonicalIp', () => {
  it('treats IPv4-mapped IPv6 as IPv4', () => {
    expect(canonicalIp('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(canonicalIp('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(canonicalIp('::1')).toBe('::1');
    expect(canonicalIp('10.1.2.3')).toBe('10.1.2.3');
  });
});

describe('CidrSet', () => {
  it('matches the first and last address of a range and nothing outside', () => {
    const set = new CidrSet(['10.0.0.0/24']);
    expect(set.has('10.0.0.0')).toBe(true);
    expect(set.has('10.0.0.255')).toBe(true);
    expect(set.has('10.0.1.0')).toBe(false);
    expect(set.has('9.255.255.255')).toBe(false);
    expect(set.has('::ffff:10.0.0.7')).toBe(true);
  });
  it('handles /0, /32 and /128', () => {
    expect(new CidrSet(['0.0.0.0/0']).has('203.0.113.9')).toBe(true);
    expect(new CidrSet(['192.0.2.1/32']).has('192.0.2.1')).toBe(true);
    expect(new CidrSet(['192.0.2.1/32']).has('192.0.2.2')).toBe(false);
    expect(new CidrSet(['2001:db8::1/128']).has('2001:db8::1')).toBe(true);
    expect(new CidrSet(['2001:db8::1/128']).has('2001:db8::2')).toBe(false);
    expect(new CidrSet(['2001:db8::/32']).has('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff')).toBe(true);
    expect(new CidrSet(['::/0']).has('2001:db8::9')).toBe(true);
  });
  it('accepts bare addresses and never matches garbage', () => {
    const set = new CidrSet(['127.0.0.2']);
    expect(set.has('127.0.0.2')).toBe(true);
    expect(set.has('not an ip')).toBe(false);
    expect(new CidrSet([]).has('127.0.0.1')).toBe(false);
  });
  it('accepts an IPv4-mapped CIDR as the IPv4 range', () => {
    expect(new CidrSet(['::ffff:10.0.0.0/120']).has('10.0.0.200')).toBe(true);
  });
});

describe('clientAddress', () => {
  const trusted = new CidrSet(['10.0.0.0/8']);
  const cases: [string, string, string | undefined, string][] = [
    ['no proxies trusted: socket', '203.0.113.5', '1.2.3.4', '203.0.113.5'],
    ['untrusted socket ignores XFF', '198.51.100.1', '1.2.3.4', '198.51.100.1'],
    ['trusted proxy, one hop', '10.0.0.1', '203.0.113.7', '203.0.113.7'],
    ['right-most untrusted wins over a spoofed left', '10.0.0.1', '6.6.6.6, 203.0.113.7', '203.0.113.7'],
    ['skips trusted hops', '10.0.0.1', '203.0.113.7, 10.0.0.9, 10.0.0.8', '203.0.113.7'],
    ['all trusted: left-most', '10.0.0.1', '10.0.0.5, 10.0.0.9', '10.0.0.5'],
    ['garbage hop stops the walk', '10.0.0.1', 'junk, 10.0.0.9', '10.0.0.9'],
    ['trusted proxy without XFF', '10.0.0.1', undefined, '10.0.0.1'],
    ['mapped socket', '::ffff:10.0.0.1', '::ffff:203.0.113.7', '203.0.113.7'],
  ];
  for (const [name, socket, xff, expected] of cases) {
    it(name, () => expect(clientAddress(socket, xff, name.startsWith('no proxies') ? new CidrSet([]) : trusted)).toBe(expected));
  }
});

describe('IpRules', () => {
  it('denies before allowing and allows everything when allow is empty', () => {
    expect(new IpRules({ allow: [], deny: [] }).admits('1.2.3.4')).toBe(true);
    expect(new IpRules({ allow: [], deny: ['1.2.3.0/24'] }).admits('1.2.3.4')).toBe(false);
    expect(new IpRules({ allow: ['1.2.3.0/24'], deny: ['1.2.3.4'] }).admits('1.2.3.4')).toBe(false);
    expect(new IpRules({ allow: ['1.2.3.0/24'], deny: [] }).admits('1.2.3.5')).toBe(true);
    expect(new IpRules({ allow: ['1.2.3.0/24'], deny: [] }).admits('1.2.4.5')).toBe(false);
  });
});
