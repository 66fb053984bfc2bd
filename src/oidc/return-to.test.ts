import { describe, expect, it } from 'vitest';
import { checkReturnTo } from './return-to.js';

const origin = 'https://app.example.com';

describe('checkReturnTo (SPEC §9: a path on this origin, not under /auth/)', () => {
  it('keeps paths on this origin, with query and fragment; defaults to /', () => {
    expect(checkReturnTo('/app/orders?x=1#top', origin)).toBe('/app/orders?x=1#top');
    expect(checkReturnTo('/', origin)).toBe('/');
    expect(checkReturnTo(null, origin)).toBe('/');
    expect(checkReturnTo('/a/../b', origin)).toBe('/b');
    expect(checkReturnTo('/authors', origin)).toBe('/authors');
  });

  it.each([
    '//evil.example', '/\\evil.example', '\\\\evil.example', 'https://evil.example', 'https://app.example.com/x', 'javascript:alert(1)',
    '/%2F%2Fevil.example', '%2F%2Fevil.example', '/%2fevil.example', '/%5Cevil.example', '/%255Cevil.example', '/%252F%252Fevil.example',
    '/\t/evil.example', '/%09/evil.example', 'evil.example', '//evil.example/%2e%2e',
    '/auth/logout', '/auth', '/AUTH/login', '/%61uth/logout', '/x/../auth/session', '/auth/oidc/login?provider=corp', '/%2e%2e/auth/x',
    '/%E0%A4%A', `/${'a'.repeat(2100)}`,
  ])('refuses %s', (value) => {
    expect(checkReturnTo(value, origin)).toBeNull();
  });
});
