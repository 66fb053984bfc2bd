import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from './load.js';

function problemsOf(document: unknown): string[] {
  try {
    parseConfig(document, '/etc/gatehouse');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}

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
