import cluster, { type Worker } from 'node:cluster';
import type { Writable } from 'node:stream';
import { ConfigError, formatProblem, loadConfig } from '../config/load.js';
import { createLogger, flushLogger, type Logger } from '../log/logger.js';
import { createGateway } from './create-gateway.js';
import { openServices } from './open-services.js';
import { workerCount } from './worker-count.js';
import { SighupReload } from './reload.js';
import { errorFields } from '../log/error-fields.js';
import { startAdminServer } from '../admin/admin-server.js';
import { metricsHandler } from '../admin/metrics-handler.js';
import { clusterMetricsSource } from '../admin/cluster-metrics.js';
import { createAdminConsole } from '../admin/console/create-admin-console.js';
import { auditedAllowRefusals } from '../admin/audited-allow-refusals.js';
import { RefusalAudit } from '../audit/refusal-audit.js';
import { MetricsSampler, prometheusTextReader } from '../admin/console/metrics-sampler.js';

export interface ServeOptions {
  configFile: string;
  env: NodeJS.ProcessEnv;
  stdout: Writable;
  stderr: Writable;
}

/**
 * `gatehouse serve`: runs until SIGTERM/SIGINT, then drains in-flight requests and resolves 0.
 * With `server.workers` above 1, the primary forks that many workers sharing the port (node:cluster)
 * and the store; it only supervises.
 */
export async function runServe(options: ServeOptions): Promise<number> {
  let loaded;
  try {
    loaded = loadConfig(options.configFile);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) options.stderr.write(`${formatProblem(problem)}\n`);
      return 2;
    }
    throw error;
  }
  const { config } = loaded;
  // SPEC §11: SIGHUP reloads the file; caught from here on, so a signal during startup ends nothing.
  const sighup = new SighupReload();
  const workers = workerCount(config);
  // JSON lines go to the given stdout; process.stdout gets pino's faster asynchronous writer.
  const root = createLogger(options.stdout === process.stdout ? {} : { destination: options.stdout });
  // Workers share the primary's stdout: each line says which process wrote it.
  const logger: Logger = cluster.isWorker ? root.child({ pid: process.pid, worker: cluster.worker?.id }) : root;

  if (workers > 1 && cluster.isPrimary) {
    // Create the master key, run migrations and create the first signing key once, before the
    // workers race for them.
    const services = await openServices(config, { createMasterKey: true, env: options.env, logger });
    await services.signingKeys.init();
    await services.close();
    sighup.forwardToWorkers(logger);
    // Decision 0017: the admin listener runs here and sums the workers' series; it stops once they
    // all have drained. Decision 0019: the console after /metrics, on services of the primary's own,
    // opened as the CLI opens them: every action is the CLI's service call, so it reaches each
    // worker as `gatehouse user lock` does (store and node messages). Its overview has no gateway
    // registry here: its requests and latency are read from the workers' sum, as /metrics serves it.
    const consoleServices = config.admin ? await openServices(config, { env: options.env, logger }) : null;
    const summed = clusterMetricsSource();
    const sampler = consoleServices ? new MetricsSampler({ reader: prometheusTextReader(() => summed.metrics()), clock: consoleServices.clock }) : null;
    let admin = null;
    try {
      admin = config.admin && consoleServices
        ? await startAdminServer(config.admin, [metricsHandler(summed), createAdminConsole({ services: consoleServices, admin: config.admin, sampler })], logger,
          auditedAllowRefusals(new RefusalAudit({ audit: consoleServices.audit, counters: consoleServices.store.counters, clock: consoleServices.clock })))
        : null;
      // No worker yet: the first sample (the baseline) is of zeros, which is what they start from.
      await sampler?.start();
    } catch (error) {
      await admin?.close();
      await consoleServices?.close();
      throw error;
    }
    const code = await supervise(workers, logger);
    sampler?.stop();
    await admin?.close();
    await consoleServices?.close();
    return code;
  }

  const gateway = await createGateway({ config, createMasterKey: true, env: options.env, logger });
  await gateway.start();
  sighup.reloadInto(loaded.file, gateway, logger);
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'draining in-flight requests');
      sighup.stop();
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      if (cluster.isWorker) {
        // Ctrl-C signals the whole process group and the primary then sends SIGTERM too: a worker
        // already draining must not be killed by that second signal.
        process.on('SIGTERM', ignore);
        process.on('SIGINT', ignore);
      }
      gateway.stop().then(() => {
        logger.info('stopped');
        return flushLogger(logger).then(() => resolve(0));
      }, (error: unknown) => {
        logger.error({ err: errorFields(error) }, 'error while stopping');
        return flushLogger(logger).then(() => resolve(1));
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

function ignore(): void {}

/**
 * Forks the workers and keeps that many running. A worker that exits before it ever listened failed
 * to start (a missing secret, a port in use…): starting another would fail the same way, in a loop,
 * so the primary stops the others and exits with that worker's code, as a single process would.
 * A worker that dies after it listened is replaced. Exit 0 after SIGTERM/SIGINT once every worker
 * has drained and exited cleanly; 1 if one of them did not.
 */
function supervise(count: number, logger: Logger): Promise<number> {
  let stopping = false;
  let failure: number | null = null;
  const listening = new Set<number>();
  return new Promise<number>((resolve) => {
    const finish = (): void => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      void flushLogger(logger).then(() => resolve(failure ?? 0));
    };
    const stop = (signal: NodeJS.Signals | null): void => {
      if (stopping) return;
      stopping = true;
      if (signal) logger.info({ signal }, 'stopping workers');
      const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
      let left = alive.length;
      if (left === 0) {
        finish();
        return;
      }
      for (const worker of alive) {
        worker.once('exit', () => {
          left -= 1;
          if (left === 0) finish();
        });
        worker.process.kill('SIGTERM');
      }
    };
    cluster.on('listening', (worker) => {
      listening.add(worker.id);
    });
    cluster.on('exit', (worker, code, signal) => {
      const started = listening.delete(worker.id);
      if (stopping) {
        // One still starting has no handler yet: our SIGTERM ends it, which is no failure.
        if (code !== 0 && !(signal === 'SIGTERM' && !started) && failure === null) {
          logger.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker did not stop cleanly');
          failure = 1;
        }
        return;
      }
      if (!started) {
        logger.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker failed to start; stopping');
        failure = code !== null && code !== 0 ? code : 1;
        stop(null);
        return;
      }
      logger.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker exited; starting another');
      cluster.fork();
    });
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    for (let i = 0; i < count; i += 1) cluster.fork();
    logger.info({ workers: count }, 'started workers');
  });
}
