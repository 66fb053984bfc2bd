import { describe, expect, it } from 'vitest';
import { parseConfig } from './load.js';
import { problemsOf } from '../../test/helpers/config-problems.js';

const corp = {
  name: 'corp',
  issuer: 'https://idp.example.com/realms/main',
  clientId: 'gatehouse',
  clientSecret: 'corp-oidc',
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  roles: [{ role: 'admin', claim: 'groups', includes: 'gatehouse-admins' }, { role: 'user', claim: 'email_verified', equals: true }],
  requireRole: true,
  mfa: { amr: ['mfa', 'otp', 'hwk', 'swk'] },
  backchannelLogout: true,
};

describe('oidc.providers (SPEC §9)', () => {
  it('accepts the SPEC example and fills in the defaults', () => {
    const config = parseConfig({ oidc: { providers: [corp] } }, '/x');
    expect(config.oidc.providers[0]).toEqual({ ...corp, allowInsecureHttp: false });
    expect(parseConfig({}, '/x').oidc).toEqual({ providers: [] });
    const minimal = parseConfig({ oidc: { providers: [{ name: 'g', issuer: 'https://accounts.example', clientId: 'c', clientSecret: 's' }] } }, '/x');
    expect(minimal.oidc.providers[0]).toMatchObject({ scopes: ['openid', 'profile', 'email'], roles: [], requireRole: false, mfa: { amr: [] }, backchannelLogout: false, allowInsecureHttp: false });
  });

  it('refuses unknown keys with their path', () => {
    expect(problemsOf({ oidc: { providers: [{ ...corp, clientSecretValue: 'x' }] } })).toEqual(['oidc.providers[0].clientSecretValue: unknown key']);
    expect(problemsOf({ oidc: { providers: [{ ...corp, roles: [{ role: 'a', claim: 'g', includes: 'x', matches: 'y' }] }] } })[0]).toBe('oidc.providers[0].roles[0].matches: unknown key');
    expect(problemsOf({ oidc: { provider: [] } })[0]).toBe('oidc.provider: unknown key');
  });

  it('refuses an http:// issuer unless allowInsecureHttp says so', () => {
    const http = { ...corp, issuer: 'http://127.0.0.1:9999' };
    expect(problemsOf({ oidc: { providers: [http] } })).toEqual(['oidc.providers[0].issuer: an http:// issuer needs allowInsecureHttp: true (for local testing only)']);
    expect(problemsOf({ oidc: { providers: [{ ...http, allowInsecureHttp: true }] } })).toEqual([]);
  });

  it('refuses duplicate names, a rule with both or neither of includes/equals, scopes without openid, an issuer with a query', () => {
    expect(problemsOf({ oidc: { providers: [corp, corp] } })).toEqual(['oidc.providers[1].name: duplicate provider name "corp"']);
    expect(problemsOf({ oidc: { providers: [{ ...corp, roles: [{ role: 'a', claim: 'g' }] }] } })).toEqual(['oidc.providers[0].roles[0]: give exactly one of includes or equals']);
    expect(problemsOf({ oidc: { providers: [{ ...corp, roles: [{ role: 'a', claim: 'g', includes: 'x', equals: 'y' }] }] } })).toEqual(['oidc.providers[0].roles[0]: give exactly one of includes or equals']);
    expect(problemsOf({ oidc: { providers: [{ ...corp, scopes: ['profile'] }] } })).toEqual(['oidc.providers[0].scopes: must include "openid"']);
    expect(problemsOf({ oidc: { providers: [{ ...corp, issuer: 'https://idp.example?x=1' }] } })[0]).toMatch(/^oidc\.providers\[0\]\.issuer: expected the issuer URL/);
    expect(problemsOf({ oidc: { providers: [{ ...corp, clientSecret: 'has space' }] } })[0]).toMatch(/^oidc\.providers\[0\]\.clientSecret: /);
  });
});

describe('upstreams[].credential: { type: user-token } (SPEC §9)', () => {
  const orders = { name: 'orders', url: 'https://orders.internal', credential: { type: 'user-token', provider: 'corp' } };
  const route = { path: '/orders/**', upstream: 'orders' };

  it('accepts a configured provider, and needs no stored secret', async () => {
    const config = parseConfig({ oidc: { providers: [corp] }, upstreams: [orders], routes: [route] }, '/x');
    expect(config.upstreams[0]!.credential).toEqual({ type: 'user-token', provider: 'corp' });
    const { referencedSecrets } = await import('./cross-check.js');
    expect(referencedSecrets(config).map((r) => r.name)).toEqual(['corp-oidc']);
  });

  it('refuses a provider that is not configured, naming the key', () => {
    expect(problemsOf({ oidc: { providers: [corp] }, upstreams: [{ ...orders, credential: { type: 'user-token', provider: 'crop' } }], routes: [route] }))
      .toEqual(['upstreams[0].credential.provider: no oidc provider is named "crop"']);
    expect(problemsOf({ upstreams: [orders], routes: [route] })).toEqual(['upstreams[0].credential.provider: no oidc provider is named "corp"']);
  });

  it('refuses a missing provider, an unknown key, and a public route to such an upstream', () => {
    expect(problemsOf({ oidc: { providers: [corp] }, upstreams: [{ ...orders, credential: { type: 'user-token' } }], routes: [route] })[0]).toMatch(/^upstreams\[0\]\.credential\.provider: /);
    expect(problemsOf({ oidc: { providers: [corp] }, upstreams: [{ ...orders, credential: { type: 'user-token', provider: 'corp', secret: 'x' } }], routes: [route] }))
      .toEqual(['upstreams[0].credential.secret: unknown key']);
    expect(problemsOf({ oidc: { providers: [corp] }, upstreams: [orders], routes: [{ ...route, public: true }] }))
      .toEqual(['routes[0].public: upstream "orders" takes the user\'s token (user-token), so its routes cannot be public']);
  });
});

describe('upstreams[].credential.exchange (SPEC §9, RFC 8693)', () => {
  const exchange = { audience: 'https://orders.api', scope: 'orders.read' };
  const orders = (credentialExchange: unknown): Record<string, unknown> => ({ name: 'orders', url: 'https://orders.internal', credential: { type: 'user-token', provider: 'corp', exchange: credentialExchange } });
  const route = { path: '/orders/**', upstream: 'orders' };
  const problems = (credentialExchange: unknown): string[] => problemsOf({ oidc: { providers: [corp] }, upstreams: [orders(credentialExchange)], routes: [route] });

  it('accepts the SPEC example, several scopes, and no scope', () => {
    expect(parseConfig({ oidc: { providers: [corp] }, upstreams: [orders(exchange)], routes: [route] }, '/x').upstreams[0]!.credential)
      .toEqual({ type: 'user-token', provider: 'corp', exchange });
    expect(problems({ audience: 'orders', scope: 'orders.read orders.write' })).toEqual([]);
    expect(problems({ audience: 'urn:example:orders' })).toEqual([]);
  });

  it('refuses a missing or empty audience, one with spaces or control characters, or too long', () => {
    expect(problems({ scope: 'orders.read' })[0]).toMatch(/^upstreams\[0\]\.credential\.exchange\.audience: expected an audience/);
    for (const audience of ['', 'orders api', 'orders\napi', 'x'.repeat(1025), 42]) {
      expect(problems({ audience })[0], JSON.stringify(audience)).toMatch(/^upstreams\[0\]\.credential\.exchange\.audience: expected an audience/);
    }
  });

  it('refuses a scope that is not RFC 6749 scope tokens separated by single spaces, or a list', () => {
    for (const scope of ['', ' orders.read', 'orders.read  orders.write', 'orders.read ', 'a"b', 'a\\b', 'é', ['orders.read']]) {
      expect(problems({ ...exchange, scope })[0], JSON.stringify(scope)).toMatch(/^upstreams\[0\]\.credential\.exchange\.scope: expected scope tokens/);
    }
  });

  it('refuses unknown keys, exchange on any other credential type, and exchange not an object', () => {
    expect(problems({ ...exchange, resource: 'https://orders.api' })).toEqual(['upstreams[0].credential.exchange.resource: unknown key']);
    expect(problemsOf({ upstreams: [{ name: 'api', url: 'https://api.internal', credential: { type: 'bearer', secret: 'api-token', exchange } }], routes: [{ path: '/api/**', upstream: 'api' }] }))
      .toEqual(['upstreams[0].credential.exchange: unknown key']);
    expect(problems('https://orders.api')[0]).toMatch(/^upstreams\[0\]\.credential\.exchange: /);
  });
});
