/** Types for redis.mjs (plain JavaScript: the cluster example runs it without a compiler). */

export interface TestRedis {
  /** `redis://127.0.0.1:PORT/0` */
  readonly url: string;
  readonly port: number;
  /** Stops the server (SIGTERM; with no persistence every key is gone), keeping the port for `start`. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** SIGSTOP: the server holds its connections open and answers nothing. */
  freeze(): void;
  thaw(): void;
  /** CLIENT KILL TYPE pubsub: cuts every subscriber; returns how many. */
  killSubscribers(): Promise<number>;
  /** Sends one command over a fresh connection and returns its reply line ("+PONG", ":2", "-ERR …"). */
  command(...args: string[]): Promise<string>;
  /** What the server printed, for failure messages. */
  output(): string;
  /** Stops the server and removes its folder. */
  close(): Promise<void>;
}


/** Throws (never skips) when redis-server is missing: a Redis test must not pass silently. */
export declare function assertRedisInstalled(file?: string): void;
/** One command in RESP over its own connection; only simple replies (+, -, :) are read. */
export declare function redisCommand(port: number, args: string[], timeoutMs?: number): Promise<string>;
export declare function startRedis(): Promise<TestRedis>;
