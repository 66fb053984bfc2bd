import { describe, expect, it } from 'vitest';
import { buildClearingCookie, buildSessionCookie, readSessionCookie, sessionCookiePolicy } from './cookies.js';

describe('session cookie', () => {
  it('is __Host-, Secure, HttpOnly, SameSite=Strict and Path=/ over HTTPS, without Domain', () => {
    const policy = sessionCookiePolicy('https://app.example.com', 'strict');
    const cookie = buildSessionCookie(policy, 'abc');
    expect(cookie).toBe('__Host-gatehouse=abc; Path=/; HttpOnly; Secure; SameSite=Strict');
    expect(cookie).not.toMatch(/domain/i);
  });

  it('is plain "gatehouse" without Secure over HTTP, Lax when configured', () => {
    const policy = sessionCookiePolicy('http://localhost:8080', 'lax');
    expect(buildSessionCookie(policy, 'abc')).toBe('gatehouse=abc; Path=/; HttpOnly; SameSite=Lax');
  });

  it('clears with an empty value, Max-Age=0 and an expiry in the past', () => {
    const cookie = buildClearingCookie(sessionCookiePolicy('https://a.example', 'strict'));
    expect(cookie).toMatch(/^__Host-gatehouse=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Strict$/);
  });
});

describe('readSessionCookie', () => {
  it('finds the cookie among others', () => {
    expect(readSessionCookie('a=1; gatehouse=tok; b=2', 'gatehouse')).toEqual({ kind: 'one', value: 'tok' });
  });
  it('reports absence', () => {
    expect(readSessionCookie(undefined, 'gatehouse')).toEqual({ kind: 'absent' });
    expect(readSessionCookie('gatehousex=1; xgatehouse=2', 'gatehouse')).toEqual({ kind: 'absent' });
  });
  it('refuses two cookies of the same name, in any spacing', () => {
    expect(readSessionCookie('gatehouse=a; gatehouse=b', 'gatehouse')).toEqual({ kind: 'ambiguous', values: ['a', 'b'] });
    expect(readSessionCookie('gatehouse=a;gatehouse=a', 'gatehouse')).toEqual({ kind: 'ambiguous', values: ['a', 'a'] });
    expect(readSessionCookie('x=1;  gatehouse =a; gatehouse=b', 'gatehouse')).toEqual({ kind: 'ambiguous', values: ['a', 'b'] });
  });
});
