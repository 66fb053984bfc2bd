import cluster from 'node:cluster';
import type { Writable } from 'node:stream';
import { ConfigError, formatProblem, loadConfig } from '../config/load.js';
import { createLogger, type Logger } from '../log/logger.js';
import { createGateway, workerCount } from './create-gateway.js';
import { openServices } from './open-services.js';

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
  const workers = workerCount(config);
  // JSON lines go to the given stdout; process.stdout gets pino's faster asynchronous writer.
  const logger = createLogger(options.stdout === process.stdout ? {} : { destination: options.stdout });

  if (workers > 1 && cluster.isPrimary) {
    // Create the master key, run migrations and create the first signing key once, before the
    // workers race for them.
    const services = await openServices(config, { createMasterKey: true, env: options.env, logger });
    await services.signingKeys.init();
    await services.close();
    return supervise(workers, logger);
  }

  const gateway = await createGateway({ config, createMasterKey: true, env: options.env, logger });
  await gateway.start();
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'draining in-flight requests');
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      gateway.stop().then(() => {
        logger.info('stopped');
        logger.flush();
        resolve(0);
      }, (error: unknown) => {
        logger.error({ err: { message: String(error) } }, 'error while stopping');
        logger.flush();
        resolve(1);
      });
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

function supervise(count: number, logger: Logger): Promise<number> {
  let stopping = false;
  for (let i = 0; i < count; i += 1) cluster.fork();
  logger.info({ workers: count }, 'started workers');
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error({ worker: worker.id, code, signal }, 'worker exited; starting another');
    cluster.fork();
  });
  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping workers');
      const alive = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
      let left = alive.length;
      if (left === 0) resolve(0);
      for (const worker of alive) {
        worker.once('exit', () => {
          left -= 1;
          if (left === 0) {
            logger.flush();
            resolve(0);
          }
        });
        worker.process.kill('SIGTERM');
      }
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
