import { availableParallelism } from 'node:os';
import type { GatewayConfig } from '../config/schema.js';

/** `server.workers` resolved: `auto` is one per core. */
export function workerCount(config: GatewayConfig): number {
  return config.server.workers === 'auto' ? availableParallelism() : config.server.workers;
}

/**
 * One serving process on a SQLite file: nothing else counts requests or sets blocks, so the rate
 * rules' counters and the active blocks can live in this process's memory (the CLI beside it only
 * lifts blocks, and waits for that to be seen: rules/block-service.ts).
 */
export function servesAlone(config: GatewayConfig): boolean {
  return 'sqlite' in config.store && workerCount(config) === 1;
}
