import { ConfigError, parseConfig } from '../../src/config/load.js';

/** What `parseConfig` says is wrong with a document, as "path: message" lines; empty when it is valid. */
export function problemsOf(document: unknown): string[] {
  try {
    parseConfig(document, '/etc/gatehouse');
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.path}: ${p.message}`);
    throw error;
  }
  return [];
}
