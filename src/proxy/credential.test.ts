import { describe, expect, it } from 'vitest';
import { compileCredential, userTokenCredential, withQueryCredential } from './credential.js';

function secrets(values: Record<string, string>): { get(name: string): string | undefined } {
  return { get: (name) => values[name] };
}

function strings(buffers: readonly Buffer[]): string[] {
  return buffers.map((b) => b.toString('utf8')).sort();
}

describe('compileCredential', () => {
  it('attaches nothing without a credential', () => {
    expect(compileCredential(undefined, secrets({}))).toEqual({ leakPatterns: [] });
  });

  it('bearer: Authorization: Bearer <secret>', () => {
    const c = compileCredential({ type: 'bearer', secret: 'tok' }, secrets({ tok: 'abcdefgh12345678' }));
    expect(c.headerName).toBe('authorization');
    expect(c.headerValue).toBe('Bearer abcdefgh12345678');
    expect(c.queryParam).toBeUndefined();
    expect(strings(c.leakPatterns)).toEqual(['abcdefgh12345678']);
  });

  it('header: the configured name in lower case', () => {
    const c = compileCredential({ type: 'header', name: 'X-Api-Key', secret: 'k' }, secrets({ k: 'key-value-123' }));
    expect(c.headerName).toBe('x-api-key');
    expect(c.headerValue).toBe('key-value-123');
  });

  it('basic: base64 of user:password, with the password, the pair and the token as patterns', () => {
    const c = compileCredential({ type: 'basic', user: 'u', password: 'p' }, secrets({ u: 'svc-user', p: 'pa ss/wörd"' }));
    const token = Buffer.from('svc-user:pa ss/wörd"', 'utf8').toString('base64');
    expect(c.headerValue).toBe(`Basic ${token}`);
    expect(strings(c.leakPatterns)).toEqual([
      'pa ss/wörd"',
      'pa ss/wörd\\"',
      'pa+ss%2Fw%C3%B6rd%22',
      'pa%20ss%2Fw%C3%B6rd%22',
      'svc-user:pa ss/wörd"',
      'svc-user:pa ss/wörd\\"',
      'svc-user%3Apa+ss%2Fw%C3%B6rd%22',
      'svc-user%3Apa%20ss%2Fw%C3%B6rd%22',
      token,
    ].sort());
    expect(strings(c.leakPatterns)).not.toContain('svc-user');
  });

  it('query: name and raw value, with the URL-encoded forms as patterns', () => {
    const c = compileCredential({ type: 'query', name: 'api_key', secret: 's' }, secrets({ s: 'a+b/c=d&e' }));
    expect(c.headerName).toBeUndefined();
    expect(c.queryParam).toEqual({ name: 'api_key', value: 'a+b/c=d&e' });
    expect(strings(c.leakPatterns)).toEqual(['a+b/c=d&e', 'a%2Bb%2Fc%3Dd%26e'].sort());
  });

  it('never produces an empty pattern and refuses empty or missing secrets without echoing values', () => {
    expect(() => compileCredential({ type: 'bearer', secret: 'missing' }, secrets({}))).toThrow(/no secret named "missing"/);
    expect(() => compileCredential({ type: 'bearer', secret: 'empty' }, secrets({ empty: '' }))).toThrow(/"empty" is empty/);
  });

  it('refuses values that cannot be header values, without the value in the message', () => {
    const attempt = () => compileCredential({ type: 'bearer', secret: 't' }, secrets({ t: 'abc\r\nX-Injected: 1' }));
    expect(attempt).toThrow(/secret "t" contains characters/);
    try {
      attempt();
    } catch (error) {
      expect(String(error)).not.toContain('Injected');
    }
  });

  it('refuses a basic-auth user with a colon, and header names that would break the request', () => {
    expect(() => compileCredential({ type: 'basic', user: 'u', password: 'p' }, secrets({ u: 'a:b', p: 'password1' }))).toThrow(/":"/);
    expect(() => compileCredential({ type: 'header', name: 'Transfer-Encoding', secret: 'k' }, secrets({ k: 'v12345678' }))).toThrow(/cannot carry/);
    expect(() => compileCredential({ type: 'header', name: 'Host', secret: 'k' }, secrets({ k: 'v12345678' }))).toThrow(/cannot carry/);
  });
});

describe('user-token (SPEC §9)', () => {
  it('attaches nothing at compile time and needs no secret', () => {
    expect(compileCredential({ type: 'user-token', provider: 'corp' }, secrets({}))).toEqual({ userToken: { provider: 'corp' }, leakPatterns: [] });
  });

  it('per request: the access token as a bearer token, and every token of the session (in its echo forms) as a leak pattern', () => {
    const tokens = { accessToken: 'at-Zm9v/YmFy+cXV4=', idToken: 'eyJh.eyJz.c2ln', refreshToken: 'rt-0123456789abcdef' };
    const attached = userTokenCredential(tokens)!;
    expect(attached.headerName).toBe('authorization');
    expect(attached.headerValue).toBe(`Bearer ${tokens.accessToken}`);
    const forms = attached.leakPatterns.map((p) => p.toString('utf8'));
    for (const token of Object.values(tokens)) expect(forms).toContain(token);
    expect(forms).toContain(encodeURIComponent(tokens.accessToken));
    expect(userTokenCredential({ ...tokens, refreshToken: null, idToken: null })!.leakPatterns.map((p) => p.toString('utf8'))).not.toContain(tokens.refreshToken);
  });

  it('refuses an access token that cannot be a header value', () => {
    expect(userTokenCredential({ accessToken: 'a\r\nX-Injected: 1', idToken: null, refreshToken: null })).toBeNull();
    expect(userTokenCredential({ accessToken: '', idToken: null, refreshToken: null })).toBeNull();
  });

  it('with exchange: kept in the compiled credential, so each request knows to exchange', () => {
    const exchange = { audience: 'https://orders.api', scope: 'orders.read' };
    expect(compileCredential({ type: 'user-token', provider: 'corp', exchange }, secrets({}))).toEqual({ userToken: { provider: 'corp', exchange }, leakPatterns: [] });
  });

  it('with an exchanged token (RFC 8693): that token is the bearer, and it and every session token are leak patterns', () => {
    const tokens = { accessToken: 'at-Zm9v/YmFy+cXV4=', idToken: 'eyJh.eyJz.c2ln', refreshToken: 'rt-0123456789abcdef' };
    const exchanged = 'xt-orders/0123+abc=';
    const attached = userTokenCredential(tokens, exchanged)!;
    expect(attached.headerValue).toBe(`Bearer ${exchanged}`);
    const forms = attached.leakPatterns.map((p) => p.toString('utf8'));
    for (const token of [exchanged, ...Object.values(tokens)]) expect(forms).toContain(token);
    expect(forms).toContain(encodeURIComponent(exchanged));
    expect(userTokenCredential(tokens, 'x\r\ny')).toBeNull();
  });
});

describe('withQueryCredential', () => {
  const param = { name: 'api_key', value: 's3cr3t/+&' };
  const own = 'api_key=s3cr3t%2F%2B%26';

  it.each([
    ['', own],
    ['city=Oslo', `city=Oslo&${own}`],
    ['api_key=client&city=Oslo', `city=Oslo&${own}`],
    ['API_KEY=client&city=Oslo', `city=Oslo&${own}`],
    ['api%5Fkey=client&city=Oslo', `city=Oslo&${own}`],
    ['api_key&city=Oslo', `city=Oslo&${own}`],
    ['api_key=1&api_key=2', own],
    ['q=%zz&api_keyx=1', `q=%zz&api_keyx=1&${own}`],
    ['a=1&&b=%2e%2e%2f', `a=1&&b=%2e%2e%2f&${own}`],
  ])('%s → %s', (query, expected) => {
    expect(withQueryCredential(query, param)).toBe(expected);
  });
});
