/** Types for start.mjs (plain JavaScript: `node examples/cluster/start.mjs` needs no compiler). */
import type { SpawnSyncReturns } from 'node:child_process';
import type { TestPostgres } from '../../scripts/servers/postgres.mjs';
import type { TestRedis } from '../../scripts/servers/redis.mjs';

export interface ClusterNode {
  /** `node-a`, `node-b`: haproxy's server names, sent back in `X-Gatehouse-Node`. */
  readonly name: string;
  readonly port: number;
  /** The node itself, bypassing haproxy. */
  readonly url: string;
  readonly configFile: string;
  /** serve's pid while it runs. */
  readonly pid: number | null;
  /** serve's JSON-lines log so far (access lines carry the `requestId` the upstream sees). */
  log(): string;
  /** Starts serve (again) and resolves once its /readyz answers 200. */
  start(): Promise<void>;
  /** SIGTERM (a drain) unless another signal is given; resolves once it exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface Cluster {
  /** haproxy's URL, the one clients use (and every node's publicOrigin). */
  readonly url: string;
  readonly user: { readonly name: string; readonly password: string };
  /** The temporary folder holding configs, logs, the master key; removed by `stop`. */
  readonly dir: string;
  /** PATH, DATABASE_URL and REDIS_URL, as the nodes get them. */
  readonly env: Record<string, string | undefined>;
  readonly nodes: readonly ClusterNode[];
  readonly haproxy: {
    readonly url: string;
    readonly pid: number;
    output(): string;
    /** Each server's state as haproxy sees it, e.g. `{ 'node-a': 'UP', 'node-b': 'DOWN' }`. */
    states(): Promise<Record<string, string>>;
    stop(): Promise<void>;
  };
  readonly postgres: TestPostgres;
  readonly redis: TestRedis;
  /** The demo upstream's URL. */
  readonly upstream: string;
  /** A CLI command with node-a's config and the cluster's environment. */
  gatehouse(args: string[], input?: string): SpawnSyncReturns<string>;
  /** Stops everything and removes its data. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** The compiled tree: GATEHOUSE_DIST, else dist/. */
  dist?: string;
  /** How many serve processes behind haproxy: 1 or 2 (default). */
  nodes?: 1 | 2;
  /** Top-level keys that replace the template's in every node's config (the bench's `limits`). */
  config?: Record<string, unknown>;
  /** The account created (default `demo`), with the role `user`. */
  user?: string;
  /** An upstream already running (its URL and bearer token) instead of the demo upstream. */
  upstream?: { url: string; token: string };
}

export declare function startCluster(options?: ClusterOptions): Promise<Cluster>;
