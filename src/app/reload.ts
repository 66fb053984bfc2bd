import cluster, { type Worker } from 'node:cluster';
import { isDeepStrictEqual } from 'node:util';
import { ConfigError, loadConfig, type ConfigProblem } from '../config/load.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { errorFields } from '../log/error-fields.js';
import type { Gateway } from './create-gateway.js';

/** SPEC §11: keys that cannot change while running; a file that changes one is refused by name. */
export const fixedKeys = ['server.host', 'server.port', 'server.workers', 'store', 'cache', 'admin'] as const;

/** What a reload applies to new requests (SPEC §11: routes, upstreams, rules, IP lists, the static site). */
export const reloadedKeys = ['upstreams', 'routes', 'limits', 'ipRules', 'static'] as const;

/** A dotted key's value: `server.port` → config.server.port. */
function at(config: GatewayConfig, key: string): unknown {
  let value: unknown = config;
  for (const part of key.split('.')) value = (value as Record<string, unknown> | undefined)?.[part];
  return value;
}

/** The keys whose values differ: each top-level key, and `server`'s one by one. */
function changedKeys(running: GatewayConfig, next: GatewayConfig): string[] {
  const top = new Set([...Object.keys(running), ...Object.keys(next)]);
  const server = new Set([...Object.keys(running.server), ...Object.keys(next.server)]);
  const keys = [...top].flatMap((key) => (key === 'server' ? [...server].map((k) => `server.${k}`) : [key]));
  return keys.filter((key) => !isDeepStrictEqual(at(running, key), at(next, key)));
}

/**
 * Re-reads `file` with the loader `serve` starts with and, if it is valid and changes no fixed key,
 * swaps the gateway's routes, upstreams, rules, IP lists and static site (SPEC §11). Otherwise
 * nothing changes and each problem is logged with its key (never a value: a value may be a secret).
 * There is no reload event among SPEC §6's audit events, so this is logged only.
 */
export async function reloadConfig(file: string, gateway: Gateway, logger: Logger): Promise<boolean> {
  const started = performance.now();
  const refuse = (problems: readonly ConfigProblem[]): false => {
    for (const problem of problems) logger.error({ key: problem.path || undefined, problem: problem.message }, 'configuration problem');
    logger.error({ keys: problems.map((p) => p.path).filter(Boolean) }, 'configuration not reloaded: the running configuration stays');
    return false;
  };
  try {
    const next = loadConfig(file).config;
    const running = gateway.runtime.config;
    const changed = changedKeys(running, next);
    const fixed = changed.filter((key) => (fixedKeys as readonly string[]).includes(key));
    if (fixed.length > 0) return refuse(fixed.map((key) => ({ path: key, message: 'cannot change while running (restart to change it)' })));
    await gateway.reload(next);
    const later = changed.filter((key) => !(reloadedKeys as readonly string[]).includes(key));
    // Built once at start into sessions, cookies, login and OIDC: honest about what did not apply.
    if (later.length > 0) logger.warn({ keys: later }, 'changed keys that apply only after a restart');
    logger.info({ changed: changed.filter((key) => !later.includes(key)), ms: Math.round((performance.now() - started) * 10) / 10 }, 'configuration reloaded');
    return true;
  } catch (error) {
    if (error instanceof ConfigError) return refuse(error.problems);
    logger.error({ err: errorFields(error) }, 'configuration not reloaded: the running configuration stays');
    return false;
  }
}

/**
 * SIGHUP for `gatehouse serve` (SPEC §11). Caught from the process's first moment (Node's default
 * for SIGHUP ends the process), held until the gateway listens, then each one re-reads the file;
 * signals arriving during a reload are folded into one more after it, so the last file written is
 * the one applied. In the primary of `server.workers`, each is passed on to the listening workers,
 * which re-read the file themselves (each has its own routes and pools to swap, and a file read
 * costs far less than a message protocol between them).
 */
export class SighupReload {
  #handle: () => void = () => {
    this.#held = true;
  };
  #held = false;
  readonly #listener = (): void => this.#handle();

  constructor() {
    process.on('SIGHUP', this.#listener);
  }

  /** From now on (and for a signal held meanwhile), SIGHUP reloads `file` into `gateway`. */
  reloadInto(file: string, gateway: Gateway, logger: Logger): void {
    let running: Promise<unknown> | null = null;
    let again = false;
    this.#handle = (): void => {
      if (running) {
        again = true;
        return;
      }
      logger.info({ signal: 'SIGHUP' }, 'reloading the configuration');
      running = reloadConfig(file, gateway, logger).finally(() => {
        running = null;
        if (again) {
          again = false;
          this.#handle();
        }
      });
    };
    if (this.#held) this.#handle();
  }

  /** From now on SIGHUP goes to every worker that listens (one still starting reads the file as it starts). */
  forwardToWorkers(logger: Logger): void {
    const listening = new Set<number>();
    cluster.on('listening', (worker) => listening.add(worker.id));
    cluster.on('exit', (worker) => listening.delete(worker.id));
    this.#handle = (): void => {
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && listening.has(w.id) && !w.isDead());
      logger.info({ signal: 'SIGHUP', workers: workers.length }, 'reloading the configuration in every worker');
      for (const worker of workers) worker.process.kill('SIGHUP');
    };
  }

  /** Stopping: a later SIGHUP is ignored rather than ending the process. */
  stop(): void {
    this.#handle = () => {};
  }
}
