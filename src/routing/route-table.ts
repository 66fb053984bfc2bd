import type { RouteConfig } from '../config/schema.js';
import { CompiledRoute } from './compiled-route.js';
import { normalisePath } from './normalise-path.js';

export { CompiledRoute };

/**
 * The allowlist (SPEC §3 `routes`, §4.4), compiled once into a segment trie.
 *
 * Glob semantics, on normalised paths split at "/":
 * - a literal segment matches itself exactly (case-sensitive, RFC 3986 §6.2.2.1);
 * - `*` matches exactly one non-empty segment;
 * - `**` (only as the last segment) matches any rest of the path, INCLUDING nothing: so
 *   `/api/weather/**` matches `/api/weather`, `/api/weather/` and `/api/weather/v1/today`. The
 *   bare prefix is the natural root of the API it names, and `stripPrefix` maps it to `/`.
 * - a trailing "/" is a segment of its own: `/api/health` does not match `/api/health/` (they are
 *   different resources, RFC 3986 §6.2.3); write `/api/health/**` to accept both.
 * - "first match wins": of all routes that match, the one listed first.
 *
 * Patterns go through the same normalisation as requests (`%7E` in a pattern is `~`), so a
 * pattern can only ever be compared with what a request can become.
 *
 * Matching never walks the route list: it descends the trie along the path's segments, trying
 * the literal child and the `*` child at each level and noting `**` terminals. Each trie node is
 * visited at most once per lookup (a node sits at one depth, reachable by one segment), and a
 * subtree whose lowest route index cannot beat the best match so far is skipped.
 */
export class RouteTable {
  readonly routes: readonly CompiledRoute[];
  readonly #root: TrieNode;

  /** Throws on a pattern or `stripPrefix` that cannot work, naming it like a config problem (`routes[2].path: …`). */
  constructor(routes: readonly RouteConfig[]) {
    const compiled: CompiledRoute[] = [];
    const root = newNode();
    routes.forEach((config, index) => {
      const segments = patternSegments(config.path, index);
      const prefix = compilePrefix(config, segments, index);
      compiled.push(new CompiledRoute(config, index, prefix));
      insert(root, segments, index);
    });
    this.routes = compiled;
    this.#root = root;
  }

  /** The first route (in config order) whose glob matches a normalised path, or null. */
  match(path: string): { route: CompiledRoute; index: number } | null {
    const segments = path.slice(1).split('/');
    const index = search(this.#root, segments, 0, NONE);
    if (index === NONE) return null;
    return { route: this.routes[index]!, index };
  }
}

interface TrieNode {
  literal: Map<string, TrieNode>;
  star: TrieNode | null;
  /** Lowest index of a route whose pattern ends exactly here. */
  end: number;
  /** Lowest index of a route with `**` here. */
  rest: number;
  /** Lowest index of any route in this subtree (for pruning). */
  min: number;
}

const NONE = Number.POSITIVE_INFINITY;

function newNode(): TrieNode {
  return { literal: new Map(), star: null, end: NONE, rest: NONE, min: NONE };
}

function insert(root: TrieNode, segments: readonly string[], index: number): void {
  let node = root;
  node.min = Math.min(node.min, index);
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '**') {
      node.rest = Math.min(node.rest, index);
      return;
    }
    let child: TrieNode | null | undefined = segment === '*' ? node.star : node.literal.get(segment);
    if (!child) {
      child = newNode();
      if (segment === '*') node.star = child;
      else node.literal.set(segment, child);
    }
    node = child;
    node.min = Math.min(node.min, index);
  }
  node.end = Math.min(node.end, index);
}

/** The lowest route index matching `segments[i..]` below `node`, or `best` if none beats it. */
function search(node: TrieNode, segments: readonly string[], i: number, best: number): number {
  if (node.min >= best) return best;
  if (node.rest < best) best = node.rest;
  if (i === segments.length) return node.end < best ? node.end : best;
  const segment = segments[i]!;
  const literal = node.literal.get(segment);
  if (literal) best = search(literal, segments, i + 1, best);
  if (node.star && segment !== '') best = search(node.star, segments, i + 1, best);
  return best;
}

function patternSegments(pattern: string, index: number): string[] {
  const normalised = normalisePath(pattern);
  if (!normalised.ok || normalised.query !== '') {
    throw new Error(`routes[${index}].path: "${pattern}" is not a valid path (${normalised.ok ? 'it has a query' : normalised.reason})`);
  }
  const segments = normalised.path.slice(1).split('/');
  segments.forEach((segment, i) => {
    if (segment === '**' && i !== segments.length - 1) throw new Error(`routes[${index}].path: "**" may only end a path glob`);
    if (segment !== '*' && segment !== '**' && segment.includes('*')) {
      throw new Error(`routes[${index}].path: "*" and "**" must be whole segments (got "${segment}")`);
    }
  });
  return segments;
}

/**
 * The normalised `stripPrefix` without a trailing "/" ("" for none), checked to be a whole-segment
 * prefix of the pattern's literal head, so that every path the route matches starts with it.
 */
function compilePrefix(config: RouteConfig, segments: readonly string[], index: number): string {
  if (config.stripPrefix === undefined) return '';
  const normalised = normalisePath(config.stripPrefix);
  if (!normalised.ok || normalised.query !== '') throw new Error(`routes[${index}].stripPrefix: "${config.stripPrefix}" is not a valid path`);
  const prefixSegments = normalised.path.slice(1).split('/');
  if (prefixSegments[prefixSegments.length - 1] === '') prefixSegments.pop();
  const fits = prefixSegments.length <= segments.length
    && prefixSegments.every((segment, i) => segment === segments[i] && segment !== '*' && segment !== '**');
  // `/api/weather/**` reaches `/api/weather` itself, so its prefix may be the whole literal head.
  if (!fits) throw new Error(`routes[${index}].stripPrefix: must be a prefix of the route path "${config.path}"`);
  return prefixSegments.length === 0 ? '' : `/${prefixSegments.join('/')}`;
}
