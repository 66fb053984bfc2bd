/** Types for postgres.mjs (plain JavaScript: the cluster example runs it without a compiler). */

export interface TestPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`: the maintenance database, for the helpers' own use. */
  readonly adminUrl: string;
  readonly port: number;
  /** A new, empty database; one per contract suite keeps suites apart. Returns its `postgres://` URL. */
  createDatabase(): Promise<string>;
  /** Stops the server (immediate shutdown: a crash, as far as clients can tell), keeping its data. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /**
   * SIGSTOP: 'server' freezes the postmaster and every backend (a hung host: open connections get no
   * answer); 'postmaster' freezes only the postmaster (open connections work, new ones hang).
   */
  freeze(scope?: 'server' | 'postmaster'): void;
  /** SIGCONT to everything `freeze` stopped. */
  thaw(): void;
  /** pg_terminate_backend for every client connection but the helper's own; returns how many. */
  terminateConnections(): Promise<number>;
  /** The server's log so far, for failure messages. */
  log(): string;
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}


/** Throws (never skips) when the binaries are missing: a PostgreSQL test must not pass silently. */
export declare function assertPostgresInstalled(files?: readonly string[]): void;
export declare function startPostgres(): Promise<TestPostgres>;
