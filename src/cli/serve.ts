import type { Command } from 'commander';
import type { CliContext } from './context.js';

/** `gatehouse serve`: runs until SIGTERM/SIGINT have drained in-flight requests. */
export function addServeCommand(program: Command, ctx: CliContext): void {
  program.command('serve')
    .description('start the gateway; logs JSON lines to stdout; SIGTERM/SIGINT drain in-flight requests, then exit 0')
    .action(async () => {
      // Loaded on demand: the other commands need none of the HTTP machinery.
      const { runServe } = await import('../app/serve.js');
      ctx.exitCode = await runServe({ configFile: ctx.configFile(), env: ctx.io.env, stdout: ctx.io.stdout, stderr: ctx.io.stderr });
    });
}
