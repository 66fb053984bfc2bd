import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { postgresUrlKind, redisUrlKind, resolveConnectionUrl } from './connection-url.js';
import { ConfigError, formatProblem } from './load.js';

const password = 'Pa55-w0rd-in-the-url';

/** The one sentence a failed resolution shows, as the CLI prints a ConfigError. */
function failure(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map(formatProblem).join('\n');
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('resolveConnectionUrl', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-url-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('returns a literal URL, an environment variable\'s and a file\'s content (trimmed)', () => {
    const url = `postgres://gh:${password}@db.internal/gatehouse`;
    expect(resolveConnectionUrl(url, postgresUrlKind, {})).toBe(url);
    expect(resolveConnectionUrl('env:DATABASE_URL', postgresUrlKind, { DATABASE_URL: ` ${url}\n` })).toBe(url);
    writeFileSync(join(dir, 'db-url'), `${url}\n`);
    expect(resolveConnectionUrl(`file:${join(dir, 'db-url')}`, postgresUrlKind, {})).toBe(url);
    expect(resolveConnectionUrl('env:REDIS_URL', redisUrlKind, { REDIS_URL: 'rediss://:x@cache:6380/1' })).toBe('rediss://:x@cache:6380/1');
  });

  it('names the key, the variable or the file when it fails, and never the value', () => {
    writeFileSync(join(dir, 'wrong'), `mysql://gh:${password}@db/gatehouse\n`);
    const messages = [
      failure(() => resolveConnectionUrl('env:DATABASE_URL', postgresUrlKind, {})),
      failure(() => resolveConnectionUrl('env:DATABASE_URL', postgresUrlKind, { DATABASE_URL: '  ' })),
      failure(() => resolveConnectionUrl('env:DATABASE_URL', postgresUrlKind, { DATABASE_URL: `redis://:${password}@db` })),
      failure(() => resolveConnectionUrl(`file:${join(dir, 'absent')}`, postgresUrlKind, {})),
      failure(() => resolveConnectionUrl(`file:${join(dir, 'wrong')}`, postgresUrlKind, {})),
      failure(() => resolveConnectionUrl(`file:${dir}`, postgresUrlKind, {})),
      failure(() => resolveConnectionUrl('env:REDIS_URL', redisUrlKind, { REDIS_URL: `postgres://:${password}@db` })),
      failure(() => resolveConnectionUrl(`http://gh:${password}@db`, postgresUrlKind, {})),
    ];
    expect(messages).toEqual([
      'store.postgres: environment variable DATABASE_URL is not set',
      'store.postgres: environment variable DATABASE_URL is not set',
      'store.postgres: environment variable DATABASE_URL does not hold a postgres:// or postgresql:// URL',
      `store.postgres: file ${join(dir, 'absent')} does not exist`,
      `store.postgres: file ${join(dir, 'wrong')} does not hold a postgres:// or postgresql:// URL`,
      `store.postgres: file ${dir} cannot be read (EISDIR)`,
      'cache.redis: environment variable REDIS_URL does not hold a redis:// or rediss:// URL',
      'store.postgres: the value does not hold a postgres:// or postgresql:// URL',
    ]);
    for (const message of messages) expect(message).not.toContain(password);
  });
});
