import { describe, expect, it } from 'vitest';
import { checkCsrf, isPreflight } from './csrf.js';

const origin = 'https://app.example.com';

describe('checkCsrf', () => {
  const cases: [string, Parameters<typeof checkCsrf>[0], ReturnType<typeof checkCsrf>][] = [
    ['header only', { xCsrf: '1', origin: undefined, secFetchSite: undefined }, { ok: true }],
    ['header, same origin', { xCsrf: '1', origin, secFetchSite: 'same-origin' }, { ok: true }],
    ['header, user-initiated', { xCsrf: '1', origin: undefined, secFetchSite: 'none' }, { ok: true }],
    ['no header', { xCsrf: undefined, origin, secFetchSite: 'same-origin' }, { ok: false, reason: 'missing_header' }],
    ['header with another value', { xCsrf: 'true', origin, secFetchSite: undefined }, { ok: false, reason: 'missing_header' }],
    ['header twice', { xCsrf: ['1', '1'], origin, secFetchSite: undefined }, { ok: false, reason: 'missing_header' }],
    ['foreign origin', { xCsrf: '1', origin: 'https://evil.example', secFetchSite: undefined }, { ok: false, reason: 'foreign_origin' }],
    ['origin with a trailing slash', { xCsrf: '1', origin: `${origin}/`, secFetchSite: undefined }, { ok: false, reason: 'foreign_origin' }],
    ['origin of a sibling subdomain', { xCsrf: '1', origin: 'https://evil.app.example.com', secFetchSite: undefined }, { ok: false, reason: 'foreign_origin' }],
    ['same scheme and host, other port', { xCsrf: '1', origin: 'https://app.example.com:8443', secFetchSite: undefined }, { ok: false, reason: 'foreign_origin' }],
    ['http downgrade of the origin', { xCsrf: '1', origin: 'http://app.example.com', secFetchSite: undefined }, { ok: false, reason: 'foreign_origin' }],
    ['null origin (sandboxed frame)', { xCsrf: '1', origin: 'null', secFetchSite: undefined }, { ok: false, reason: 'foreign_origin' }],
    ['cross-site fetch', { xCsrf: '1', origin: undefined, secFetchSite: 'cross-site' }, { ok: false, reason: 'cross_site' }],
    ['same-site (sibling) fetch', { xCsrf: '1', origin: undefined, secFetchSite: 'same-site' }, { ok: false, reason: 'cross_site' }],
  ];
  for (const [name, headers, verdict] of cases) {
    it(name, () => expect(checkCsrf(headers, origin)).toEqual(verdict));
  }
});

describe('isPreflight', () => {
  it('recognises a CORS preflight and nothing else', () => {
    expect(isPreflight('OPTIONS', { 'access-control-request-method': 'POST' })).toBe(true);
    expect(isPreflight('OPTIONS', {})).toBe(false);
    expect(isPreflight('GET', { 'access-control-request-method': 'POST' })).toBe(false);
  });
});
