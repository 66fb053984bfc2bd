import { describe, expect, it } from 'vitest';
import { canonicalHostEntry, hostPolicy, isAllowedHostEntry, parseHost } from './host-policy.js';

describe('parseHost', () => {
  it('splits name and port, lower-casing the name', () => {
    expect(parseHost('LocalHost:8080')).toEqual({ name: 'localhost', port: 8080 });
    expect(parseHost('example.com')).toEqual({ name: 'example.com', port: null });
  });

  it('puts IPv6 literals in the compressed form browsers send, brackets kept', () => {
    expect(parseHost('[0:0:0:0:0:0:0:1]:8080')).toEqual({ name: '[::1]', port: 8080 });
    expect(parseHost('[2001:DB8::1]')).toEqual({ name: '[2001:db8::1]', port: null });
  });

  it('refuses what is not a host', () => {
    for (const text of ['', ':8080', 'localhost:', 'localhost:80:80', 'localhost:99999', 'localhost:8o', '[::1', '[::1]x', '[not-v6]:80', '[fe80::1%eth0]', '::1', 'http://x']) {
      expect(parseHost(text), text).toBeNull();
    }
  });
});

describe('allowedHosts entries', () => {
  it('accepts names, IPv4 and bracketed IPv6, with or without a port', () => {
    for (const text of ['app.example.com', 'App.Example.COM:8443', 'localhost', 'internal_name', '127.0.0.1', '127.0.0.1:8080', '[::1]', '[::1]:8080', 'xn--bcher-kva.example']) {
      expect(isAllowedHostEntry(text), text).toBe(true);
    }
  });

  it('refuses schemes, paths, wildcards, port 0, bare IPv6 and numeric non-addresses', () => {
    for (const text of ['', 'https://app.example.com', 'app.example.com/', '*.example.com', '*', 'app..example.com', '.example.com', '-x.example', 'x:0', '::1', '127.1', '999.0.0.1', 'a b']) {
      expect(isAllowedHostEntry(text), text).toBe(false);
    }
  });

  it('canonicalises entries', () => {
    expect(canonicalHostEntry('App.Example.COM:08443')).toBe('app.example.com:8443');
    expect(canonicalHostEntry('[0::1]')).toBe('[::1]');
  });
});

describe('hostPolicy', () => {
  it("admits publicOrigin's host on its port only, in any case", () => {
    const policy = hostPolicy('http://localhost:8080', []);
    expect(policy.admits('localhost:8080')).toBe(true);
    expect(policy.admits('LOCALHOST:8080')).toBe(true);
    expect(policy.admits('localhost:8081')).toBe(false);
    expect(policy.admits('localhost')).toBe(false);
    expect(policy.admits('localhost:80')).toBe(false);
    expect(policy.admits('127.0.0.1:8080')).toBe(false);
    expect(policy.admits('attacker.example:8080')).toBe(false);
  });

  it('reads a Host without port as the default port of the origin scheme', () => {
    const https = hostPolicy('https://example.com', []);
    expect(https.admits('example.com')).toBe(true);
    expect(https.admits('example.com:443')).toBe(true);
    expect(https.admits('example.com:80')).toBe(false);
    expect(https.admits('example.com:8443')).toBe(false);
    const http = hostPolicy('http://example.com', []);
    expect(http.admits('example.com')).toBe(true);
    expect(http.admits('example.com:80')).toBe(true);
    expect(http.admits('example.com:443')).toBe(false);
    const httpsOnOwnPort = hostPolicy('https://example.com:8443', []);
    expect(httpsOnOwnPort.admits('example.com:8443')).toBe(true);
    expect(httpsOnOwnPort.admits('example.com')).toBe(false);
  });

  it('compares IPv6 origins in canonical form', () => {
    const policy = hostPolicy('http://[::1]:8080', []);
    expect(policy.admits('[::1]:8080')).toBe(true);
    expect(policy.admits('[0:0:0:0:0:0:0:1]:8080')).toBe(true);
    expect(policy.admits('[::2]:8080')).toBe(false);
    expect(policy.admits('[::1]:8081')).toBe(false);
  });

  it('admits a bare allowedHosts name on any port, and name:port on that port only', () => {
    const policy = hostPolicy('https://app.example.com', ['127.0.0.1', 'internal.example:8080', '[::1]']);
    expect(policy.admits('127.0.0.1')).toBe(true);
    expect(policy.admits('127.0.0.1:39123')).toBe(true);
    expect(policy.admits('internal.example:8080')).toBe(true);
    expect(policy.admits('Internal.Example:8080')).toBe(true);
    expect(policy.admits('internal.example')).toBe(false);
    expect(policy.admits('internal.example:9090')).toBe(false);
    expect(policy.admits('[::1]:1234')).toBe(true);
  });

  it('refuses a missing, empty or malformed Host', () => {
    const policy = hostPolicy('http://localhost:8080', ['localhost']);
    for (const host of [undefined, '', ':8080', 'localhost:', 'localhost:8080:1', 'localhost:99999', 'localhost.:8080']) {
      expect(policy.admits(host), String(host)).toBe(false);
    }
  });
});
