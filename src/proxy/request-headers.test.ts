import { describe, expect, it } from 'vitest';
import { upstreamRequestHeaders, type UpstreamRequestHeaderOptions } from './request-headers.js';

const base: UpstreamRequestHeaderOptions = {
  clientIp: '203.0.113.7',
  publicOrigin: 'https://app.example.com',
  requestId: 'req-1',
};

const added = {
  'x-forwarded-for': '203.0.113.7',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'app.example.com',
  'x-request-id': 'req-1',
};

describe('upstreamRequestHeaders', () => {
  it('drops credentials, hop-by-hop, proxy, forwarding and override headers; keeps the rest', () => {
    const out = upstreamRequestHeaders({
      accept: 'application/json',
      'accept-encoding': 'gzip',
      'content-type': 'application/json',
      'content-length': '12',
      'user-agent': 'test',
      cookie: 'gatehouse=abc',
      authorization: 'Bearer stolen',
      'x-csrf': '1',
      host: 'app.example.com',
      expect: '100-continue',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'proxy-authorization': 'Basic eA==',
      'proxy-anything': 'x',
      te: 'trailers',
      trailer: 'x-checksum',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      'http2-settings': 'AAA',
      forwarded: 'for=1.2.3.4',
      'x-forwarded-for': '1.2.3.4',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'http',
      'x-forwarded-prefix': '/admin',
      'x-real-ip': '1.2.3.4',
      'true-client-ip': '1.2.3.4',
      'x-client-ip': '1.2.3.4',
      'cf-connecting-ip': '1.2.3.4',
      'x-original-url': '/admin',
      'x-rewrite-url': '/admin',
      'x-http-method-override': 'DELETE',
      'x-http-method': 'DELETE',
      'x-method-override': 'DELETE',
      'gatehouse-assertion': 'forged.jwt',
      'x-request-id': 'client-chosen',
    }, base);
    expect({ ...out }).toEqual({
      accept: 'application/json',
      'accept-encoding': 'gzip',
      'content-type': 'application/json',
      'content-length': '12',
      'user-agent': 'test',
      ...added,
    });
  });

  it('drops every header named in Connection, but never the framing and representation fields', () => {
    const out = upstreamRequestHeaders({
      connection: 'close, X-Secret-Debug, content-length, Content-Type',
      'x-secret-debug': '1',
      'content-length': '5',
      'content-type': 'text/plain',
      accept: '*/*',
    }, base);
    expect({ ...out }).toEqual({ 'content-length': '5', 'content-type': 'text/plain', accept: '*/*', ...added });
  });

  it('cannot be told by Connection to drop the headers Gatehouse adds', () => {
    const out = upstreamRequestHeaders(
      { connection: 'x-forwarded-for, x-request-id, authorization, x-api-key' },
      { ...base, credential: { headerName: 'x-api-key', headerValue: 'real' } },
    );
    expect(out['x-forwarded-for']).toBe('203.0.113.7');
    expect(out['x-request-id']).toBe('req-1');
    expect(out['x-api-key']).toBe('real');
  });

  it('works on rawHeaders: any case, repeated fields kept as arrays, Connection across several lines', () => {
    const out = upstreamRequestHeaders([
      'Accept', 'text/html',
      'X-Custom', 'a',
      'x-custom', 'b',
      'Connection', 'X-Hop-One',
      'CONNECTION', 'x-hop-two',
      'X-Hop-One', '1',
      'X-HOP-TWO', '2',
      'COOKIE', 'a=b',
      'Authorization', 'Basic x',
      'X-Forwarded-For', '9.9.9.9',
      'Proxy-Authorization', 'x',
    ], base);
    expect({ ...out }).toEqual({ accept: 'text/html', 'x-custom': ['a', 'b'], ...added });
  });

  it('replaces a client header that has the credential header name, whatever its case', () => {
    const credential = { headerName: 'x-api-key', headerValue: 'the-secret' };
    expect(upstreamRequestHeaders({ 'x-api-key': 'client-value' }, { ...base, credential })['x-api-key']).toBe('the-secret');
    expect(upstreamRequestHeaders(['X-API-KEY', 'client-value', 'x-Api-Key', 'two'], { ...base, credential })['x-api-key']).toBe('the-secret');
    const bearer = { headerName: 'authorization', headerValue: 'Bearer t' };
    expect(upstreamRequestHeaders({ authorization: 'Bearer client' }, { ...base, credential: bearer })['authorization']).toBe('Bearer t');
  });

  it('drops the credential header name even without a value to add (e.g. a query credential elsewhere)', () => {
    const out = upstreamRequestHeaders({ 'x-api-key': 'client' }, { ...base, credential: { headerName: 'X-Api-Key' } });
    expect(out['x-api-key']).toBeUndefined();
  });

  it('appends the client address to a trusted chain, and only then', () => {
    expect(upstreamRequestHeaders({ 'x-forwarded-for': '1.1.1.1' }, base)['x-forwarded-for']).toBe('203.0.113.7');
    expect(upstreamRequestHeaders({ 'x-forwarded-for': '1.1.1.1' }, { ...base, clientIp: '198.51.100.4', trustedChain: '192.0.2.9' })['x-forwarded-for'])
      .toBe('192.0.2.9, 198.51.100.4');
  });

  it('reports IPv4-mapped IPv6 peers as IPv4 and leaves real IPv6 alone', () => {
    expect(upstreamRequestHeaders({}, { ...base, clientIp: '::ffff:192.0.2.1' })['x-forwarded-for']).toBe('192.0.2.1');
    expect(upstreamRequestHeaders({}, { ...base, clientIp: '2001:db8::1' })['x-forwarded-for']).toBe('2001:db8::1');
  });

  it('takes proto and host (with a non-default port) from the public origin', () => {
    const out = upstreamRequestHeaders({}, { ...base, publicOrigin: 'http://localhost:8080' });
    expect(out['x-forwarded-proto']).toBe('http');
    expect(out['x-forwarded-host']).toBe('localhost:8080');
    const v6 = upstreamRequestHeaders({}, { ...base, publicOrigin: 'https://[2001:db8::1]:8443' });
    expect([v6['x-forwarded-proto'], v6['x-forwarded-host']]).toEqual(['https', '[2001:db8::1]:8443']);
  });

  it('is not fooled by a header named __proto__', () => {
    const out = upstreamRequestHeaders(['__proto__', 'x'], base);
    expect(Object.getPrototypeOf(out)).toBe(null);
    expect(out['__proto__']).toBe('x');
  });

  it('does not alias the input arrays', () => {
    const incoming = { 'x-list': ['a', 'b'] } as unknown as Record<string, string | string[]>;
    const out = upstreamRequestHeaders(incoming, base);
    (out['x-list'] as string[]).push('c');
    expect(incoming['x-list']).toEqual(['a', 'b']);
  });
});
