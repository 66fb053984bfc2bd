import { describe, expect, it } from 'vitest';
import { parseConfig } from './load.js';
import { problemsOf } from '../../test/helpers/config-problems.js';

describe('admin (SPEC §11)', () => {
  it('is off unless configured, and takes the SPEC defaults when given', () => {
    expect(parseConfig({}, '/x').admin).toBeUndefined();
    expect(parseConfig({ admin: {} }, '/x').admin).toEqual({
      host: '127.0.0.1', port: 9090, publicOrigin: 'http://127.0.0.1:9090', allow: ['127.0.0.0/8', '::1/128'],
    });
    expect(parseConfig({ admin: { port: 9191, allow: ['10.0.0.0/8'] } }, '/x').admin).toMatchObject({ port: 9191, allow: ['10.0.0.0/8'] });
  });

  it('refuses the public port, a bad CIDR, an origin with a path and unknown keys, by key path', () => {
    expect(problemsOf({ server: { port: 8080 }, admin: { port: 8080 } })).toEqual([
      'admin.port: must differ from server.port (8080): the admin listener is never the public port',
    ]);
    expect(problemsOf({ admin: { allow: ['10.0.0.0/33', 'nonsense'], publicOrigin: 'http://127.0.0.1:9090/console', port: 70000, colour: 1 } })).toEqual([
      'admin.port: expected a port number from 0 to 65535',
      'admin.publicOrigin: expected an origin like "https://app.example.com" (scheme, host and optional port, no path)',
      'admin.allow[0]: expected a CIDR like "10.0.0.0/8" or an address',
      'admin.allow[1]: expected a CIDR like "10.0.0.0/8" or an address',
      'admin.colour: unknown key',
    ]);
  });
});
