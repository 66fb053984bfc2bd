import { describe, expect, it } from 'vitest';
import { adminCookiePolicy } from './console-gate.js';

describe('adminCookiePolicy', () => {
  it('follows the admin origin as the main cookie follows server.publicOrigin: __Host- and Secure over HTTPS only; never the public name', () => {
    expect(adminCookiePolicy('https://admin.example.com')).toEqual({ name: '__Host-gatehouse_admin', secure: true, sameSite: 'strict' });
    expect(adminCookiePolicy('http://127.0.0.1:9090')).toEqual({ name: 'gatehouse_admin', secure: false, sameSite: 'strict' });
  });
});
