import type { Command } from 'commander';
import { MasterKeyRotation, MasterKeyRotationError, sealedSources } from '../secrets/master-key-rotation.js';
import { printLine } from './cli-io.js';
import { runtimeError, usageError } from './cli-error.js';
import { cliActor, withServices, type CliContext } from './context.js';

/**
 * `gatehouse secret rotate-master-key` (SPEC §7): with a new key first in `masterKey` and the old
 * one after it, re-encrypts every stored secret, signing key and TOTP secret (and the master-key
 * check value) under the first key. Gateways running with the same list read both forms meanwhile.
 * Prints the counts; afterwards the old key can be removed from the list.
 */
export function addSecretRotateMasterKeyCommand(secret: Command, ctx: CliContext): void {
  secret.command('rotate-master-key')
    .description('re-encrypt every stored value under the first masterKey; afterwards the others can be removed')
    .action(async () => {
      const report = await withServices(ctx, {}, async ({ keyring, random, audit, store }) => {
        try {
          return await new MasterKeyRotation({ keyring, random, audit, sources: sealedSources(store) }).rotate(cliActor);
        } catch (error) {
          if (!(error instanceof MasterKeyRotationError)) throw error;
          // A single configured key is a configuration not set up for rotation; the rest are failures.
          throw error.code === 'single_key' ? usageError(error.message) : runtimeError(error.message);
        }
      });
      const parts = report.bySource.map((s) => `${s.name} ${s.resealed}`).join(', ');
      printLine(ctx.io.stdout, `re-encrypted ${report.resealed} values under master key ${report.keyId} (${parts}); ${report.alreadyCurrent} were already under it`);
      printLine(ctx.io.stdout, 'every stored value now opens with the first key alone: the other keys can be removed from masterKey');
    });
}
