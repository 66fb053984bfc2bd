/**
 * What a contract suite is run against: `store` and `peer` are two independent connections to the
 * same backend (for SQLite, two opens of one file), so the suites can show that a write through one
 * is seen by the other and that atomic operations hold across connections, not just inside one.
 * `cleanup` closes both and removes whatever the factory created.
 */
export interface ContractSubject<T> {
  store: T;
  peer: T;
  cleanup(): Promise<void>;
}

/** Called once per test, so every test starts on an empty backend. */
export type ContractFactory<T> = () => Promise<ContractSubject<T>>;

/** How many callers race in each concurrency case. */
export const racers = 20;

/** Runs `count` calls (default `racers`), alternating between the two connections, all started before any is awaited. */
export function race<T, R>(subject: ContractSubject<T>, call: (store: T, index: number) => Promise<R>, count = racers): Promise<R[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => call(i % 2 === 0 ? subject.store : subject.peer, i)));
}
