import { describe, expect, it } from 'vitest';
import { refusalReasons } from '../src/index.js';
import { refusal } from '../src/middleware/refusal.js';

describe('refusal reasons', () => {
  it('is the documented, stable list (a code is never renamed or reused)', () => {
    expect(Object.keys(refusalReasons).sort()).toEqual([
      'bad_signature', 'expired', 'jwks_unavailable', 'malformed', 'missing', 'not_yet_valid', 'replay_cache_full',
      'replayed', 'unknown_key', 'wrong_audience', 'wrong_issuer', 'wrong_method', 'wrong_url',
    ]);
  });

  it('answers 401 for a bad assertion and 503 only when the verifier itself cannot decide', () => {
    for (const [reason, { status }] of Object.entries(refusalReasons)) {
      expect(status, reason).toBe(reason === 'jwks_unavailable' || reason === 'replay_cache_full' ? 503 : 401);
    }
  });

  it('answers JSON with the code, a challenge on 401, and no caching', () => {
    const { status, headers, body } = refusal('expired');
    expect(status).toBe(401);
    expect(headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'www-authenticate': 'Gatehouse-Assertion error="expired"' });
    expect(JSON.parse(body)).toEqual({ error: { code: 'expired', message: refusalReasons.expired.message } });
    expect(refusal('jwks_unavailable').headers['www-authenticate']).toBeUndefined();
  });
});
