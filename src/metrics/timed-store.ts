import type { Store } from '../storage/store.js';

/** The parts of the store whose calls are timed: each is one label value (few, fixed; SPEC §11). */
const timedParts = ['users', 'sessions', 'secrets', 'audit', 'blocks', 'mfa', 'oidc', 'keys', 'revocations', 'nodes', 'leases', 'connectionSlots', 'throttle', 'counters'] as const;
export type StorePart = (typeof timedParts)[number];

/**
 * The store with each asynchronous call of its data parts timed: `observe(part, seconds)` is told
 * once the call settled, fulfilled or not. Wrapping at the port keeps the adapters unaware of metrics
 * and times SQLite, PostgreSQL and Redis (the counters beside PostgreSQL, `pingCache`) alike.
 * Synchronous methods (a memory counter store's) are passed through untimed.
 */
export function timedStore(store: Store, observe: (part: StorePart | 'cache', seconds: number) => void): Store {
  const timed: Partial<Record<StorePart, unknown>> = {};
  for (const part of timedParts) timed[part] = timedObject(store[part], (seconds) => observe(part, seconds));
  const pingCache = store.pingCache?.bind(store);
  return Object.assign(Object.create(store) as Store, timed, pingCache ? { pingCache: timedCall(pingCache, (seconds) => observe('cache', seconds)) } : {});
}

function timedObject<T extends object>(target: T, observe: (seconds: number) => void): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(object, key) {
      const value: unknown = Reflect.get(object, key, object);
      if (typeof value !== 'function') return value;
      let call = wrapped.get(key);
      if (!call) wrapped.set(key, (call = timedCall((value as (...args: unknown[]) => unknown).bind(object), observe)));
      return call;
    },
  });
}

function timedCall<A extends unknown[], R>(call: (...args: A) => R, observe: (seconds: number) => void): (...args: A) => R {
  return (...args: A): R => {
    const started = performance.now();
    const result = call(...args);
    if (result instanceof Promise) {
      const done = (): void => observe((performance.now() - started) / 1000);
      result.then(done, done);
    }
    return result;
  };
}
