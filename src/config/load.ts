import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { configSchema, type GatewayConfig, type StoreConfig } from './schema.js';
import { crossCheck } from './cross-check.js';

/** One thing wrong with a configuration: the key path (`routes[2].upstream`) and what was expected. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** A configuration that cannot be used; `problems` lists every one found, not only the first. */
export class ConfigError extends Error {
  readonly code = 'invalid_config';
  readonly problems: readonly ConfigProblem[];

  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatProblem(problem: ConfigProblem): string {
  return problem.path ? `${problem.path}: ${problem.message}` : problem.message;
}

export interface LoadedConfig {
  config: GatewayConfig;
  /** Absolute path of the file it came from (relative paths in it resolve against its folder). */
  file: string;
}

/** Formats a zod issue path as the SPEC writes key paths: `routes[2].upstream`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

function zodProblems(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: 'unknown key' }));
    }
    return [{ path: formatPath(issue.path), message: issue.message }];
  }).flat();
}

/** Validates an already-parsed document; relative file paths resolve against `baseDir`. */
export function parseConfig(document: unknown, baseDir: string): GatewayConfig {
  const result = configSchema.safeParse(document ?? {});
  if (!result.success) {
    // Report references between sections too, so one run of `check` shows every problem.
    const problems = zodProblems(result.error);
    const seen = new Set(problems.map((p) => p.path));
    throw new ConfigError([...problems, ...referenceProblems(document).filter((p) => !seen.has(p.path))]);
  }
  const problems = crossCheck(result.data);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(resolvePaths(result.data, baseDir)) as GatewayConfig;
}

/** Reads, parses and validates a configuration file. Throws ConfigError with every problem found. */
export function loadConfig(file: string): LoadedConfig {
  const absolute = resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new ConfigError([{ path: '', message: `configuration file ${absolute} ${reason}` }]);
  }
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false });
  if (document.errors.length > 0) {
    throw new ConfigError(document.errors.map((e) => ({
      path: '',
      message: `${absolute}: invalid YAML at line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`,
    })));
  }
  return { config: parseConfig(document.toJS(), dirname(absolute)), file: absolute };
}

/** Route → upstream references, read from a document that failed validation elsewhere. */
function referenceProblems(document: unknown): ConfigProblem[] {
  const doc = document as { upstreams?: unknown; routes?: unknown } | null;
  if (!doc || !Array.isArray(doc.upstreams) || !Array.isArray(doc.routes)) return [];
  const names = new Set(doc.upstreams.map((u: { name?: unknown } | null) => u?.name).filter((n) => typeof n === 'string'));
  return doc.routes.flatMap((route: { upstream?: unknown } | null, i) =>
    typeof route?.upstream === 'string' && !names.has(route.upstream)
      ? [{ path: `routes[${i}].upstream`, message: `no upstream is named "${route.upstream}"` }]
      : []);
}

function resolvePaths(config: GatewayConfig, baseDir: string): GatewayConfig {
  const at = (path: string): string => (isAbsolute(path) ? path : resolve(baseDir, path));
  const atOptional = (path: string | undefined): string | undefined => (path === undefined ? undefined : at(path));
  return {
    ...config,
    server: { ...config.server, tls: config.server.tls && { cert: at(config.server.tls.cert), key: at(config.server.tls.key) } },
    store: resolveStorePaths(config.store, at),
    masterKey: config.masterKey.map((source) => (source.startsWith('file:') ? `file:${at(source.slice(5))}` : source)),
    upstreams: config.upstreams.map((u) => ({
      ...u,
      tls: u.tls && { ...u.tls, ca: atOptional(u.tls.ca), cert: atOptional(u.tls.cert), key: atOptional(u.tls.key) },
    })),
    static: atOptional(config.static),
  };
}

function resolveStorePaths(store: StoreConfig, at: (path: string) => string): StoreConfig {
  if ('sqlite' in store) return { sqlite: store.sqlite === ':memory:' ? ':memory:' : at(store.sqlite) };
  return { ...store, postgres: store.postgres.startsWith('file:') ? `file:${at(store.postgres.slice(5))}` : store.postgres };
}
