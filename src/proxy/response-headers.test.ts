import { describe, expect, it } from 'vitest';
import { clientResponseHeaders } from './response-headers.js';

describe('clientResponseHeaders', () => {
  it('drops hop-by-hop, cookies, CORS, proxy and alt-svc headers; keeps HSTS and the rest', () => {
    const out = clientResponseHeaders({
      'content-type': 'application/json',
      'content-length': '42',
      'cache-control': 'max-age=60',
      etag: '"abc"',
      location: '/elsewhere',
      'strict-transport-security': 'max-age=31536000',
      'www-authenticate': 'Bearer',
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      trailer: 'x-checksum',
      upgrade: 'h2c',
      te: 'trailers',
      'proxy-connection': 'keep-alive',
      'proxy-authenticate': 'Basic',
      'set-cookie': ['a=b', 'gatehouse=evil; Path=/'],
      'set-cookie2': 'x=y',
      'clear-site-data': '"cookies"',
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x',
      'alt-svc': 'h3=":443"',
      'x-request-id': 'upstream-id',
      skipped: undefined,
    });
    expect({ ...out }).toEqual({
      'content-type': 'application/json',
      'content-length': '42',
      'cache-control': 'max-age=60',
      etag: '"abc"',
      location: '/elsewhere',
      'strict-transport-security': 'max-age=31536000',
      'www-authenticate': 'Bearer',
    });
  });

  it('drops headers named in Connection except framing fields, and matches names in any case', () => {
    const out = clientResponseHeaders({
      connection: 'X-Internal, Content-Length',
      'x-internal': 'debug',
      'Content-Length': '3',
      'Access-Control-Allow-Origin': '*',
      'Set-Cookie': 'a=b',
    });
    expect({ ...out }).toEqual({ 'content-length': '3' });
  });

  it('keeps repeated fields as (copied) arrays', () => {
    const link = ['<a>; rel=next', '<b>; rel=prev'];
    const out = clientResponseHeaders({ link });
    expect(out['link']).toEqual(link);
    expect(out['link']).not.toBe(link);
  });
});
