/** Types for watchdog.mjs (plain JavaScript: the cluster example runs it without a compiler). */
export interface WatchdogPlan {
  /** The server's pid file (first line: the pid), read when cleaning up: a restart changes the pid. */
  pidFile: string;
  /** SIGCONT the pid's children too (PostgreSQL's backends, which `freeze` may have stopped). */
  thawChildren?: boolean;
  /** A command that stops the server (pg_ctl stop); else the pid gets SIGKILL. */
  stop?: string[];
  /** The folder to remove. */
  remove: string;
}

/** Starts a detached process that cleans up after `plan` once this process has died; `stop` it on a normal close. */
export declare function startWatchdog(plan: WatchdogPlan): { stop(): void };
