import { readFileSync } from 'node:fs';
import { ConfigError } from './load.js';
import { isUrlWithScheme, postgresSchemes, redisSchemes } from './schema.js';

/** What a connection URL is for: the key it is configured under and the schemes it may use. */
interface UrlKind {
  path: string;
  schemes: readonly string[];
  expected: string;
}

export const postgresUrlKind: UrlKind = { path: 'store.postgres', schemes: postgresSchemes, expected: 'a postgres:// or postgresql:// URL' };
export const redisUrlKind: UrlKind = { path: 'cache.redis', schemes: redisSchemes, expected: 'a redis:// or rediss:// URL' };

/**
 * The URL a connection source stands for: the literal URL, the value of `env:VARNAME` in `env`, or
 * the content of `file:PATH` (absolute, as the loader resolved it; surrounding white space dropped).
 * Read when the store opens, as the master key is (secrets/keyring.ts), so the URL with its password
 * is never part of the frozen configuration. Failures are ConfigErrors naming the key, the variable
 * or the file — never the value, which may hold a password.
 */
export function resolveConnectionUrl(source: string, kind: UrlKind, env: NodeJS.ProcessEnv): string {
  const fail = (message: string): never => {
    throw new ConfigError([{ path: kind.path, message }]);
  };
  let url: string;
  let from: string;
  if (source.startsWith('env:')) {
    const name = source.slice(4);
    const value = env[name];
    if (value === undefined || value.trim() === '') return fail(`environment variable ${name} is not set`);
    url = value.trim();
    from = `environment variable ${name}`;
  } else if (source.startsWith('file:')) {
    const file = source.slice(5);
    try {
      url = readFileSync(file, 'utf8').trim();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return fail(code === 'ENOENT' ? `file ${file} does not exist` : `file ${file} cannot be read (${code ?? 'unknown error'})`);
    }
    from = `file ${file}`;
  } else {
    url = source;
    from = 'the value';
  }
  if (!isUrlWithScheme(url, kind.schemes)) fail(`${from} does not hold ${kind.expected}`);
  return url;
}
