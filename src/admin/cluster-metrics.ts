import { AggregatorRegistry, type Registry } from 'prom-client';
import type { MetricsSource } from './metrics-handler.js';

/**
 * With `server.workers` above 1 the admin listener runs in the primary (decision 0017): one port,
 * one scrape, and the answer is the sum over the workers, which prom-client's AggregatorRegistry
 * asks each of them for over the cluster IPC channel. Gauges that every worker reads alike from the
 * store (sessions active) say so with their own `aggregator`.
 */
export function clusterMetricsSource(): MetricsSource {
  const aggregator = new AggregatorRegistry();
  return { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() };
}

/** In a worker: answers the primary's requests with this gateway's registry. */
export function shareWithPrimary(registry: Registry): void {
  // The constructor is what installs the worker's answering listener (idempotent inside prom-client).
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
}
