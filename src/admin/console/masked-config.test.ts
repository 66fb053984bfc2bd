import { describe, expect, it } from 'vitest';
import { configSchema } from '../../config/schema.js';
import { maskedConfig } from './masked-config.js';

describe('maskedConfig', () => {
  it('masks passwords in store and Redis URLs and the master key sources; keeps the rest', () => {
    const config = configSchema.parse({
      store: { postgres: 'postgres://gate:s3cr3t-pw@db.internal:5432/gatehouse' },
      cache: { redis: 'redis://:r3dis-pw@cache.internal:6379/0' },
      masterKey: ['file:/etc/gatehouse/new.key', 'env:OLD_KEY'],
      upstreams: [{ name: 'api', url: 'http://127.0.0.1:9000', credential: { type: 'bearer', secret: 'api-token' } }],
    });
    const text = JSON.stringify(maskedConfig(config));
    expect(text).not.toContain('s3cr3t-pw');
    expect(text).not.toContain('r3dis-pw');
    expect(text).not.toContain('new.key');
    expect(text).not.toContain('OLD_KEY');
    expect(text).toContain('db.internal');
    expect(text).toContain('"secret":"api-token"');
  });
});
