import type { RouteConfig } from '../config/schema.js';

/**
 * A route of the allowlist, compiled once: its methods as a Set and its `stripPrefix` as a
 * normalised literal (no trailing "/"), so per-request work is a lookup and a slice.
 */
export class CompiledRoute {
  readonly config: RouteConfig;
  /** Position in `routes:`; lower wins ("first match wins"). */
  readonly index: number;
  /** The configured methods, plus HEAD whenever GET is allowed (RFC 9110 §9.3.2: HEAD is GET without content). */
  readonly methods: ReadonlySet<string>;
  readonly #prefix: string;

  /** `prefix` is the normalised `stripPrefix` without a trailing "/", or "" for none. */
  constructor(config: RouteConfig, index: number, prefix: string) {
    this.config = config;
    this.index = index;
    const methods = new Set(config.methods);
    if (methods.has('GET')) methods.add('HEAD');
    this.methods = methods;
    this.#prefix = prefix;
  }

  /**
   * The path to send upstream for a normalised `path` this route matched: `stripPrefix` removed,
   * always starting with "/" (`/api/weather` with prefix `/api/weather` → `/`).
   */
  upstreamPath(path: string): string {
    const prefix = this.#prefix;
    if (prefix === '') return path;
    if (path.length === prefix.length && path === prefix) return '/';
    if (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f) return path.slice(prefix.length);
    // Unreachable for a path this route matched: RouteTable checks the prefix against the pattern.
    throw new Error(`route ${this.index}: path does not start with its stripPrefix`);
  }
}
