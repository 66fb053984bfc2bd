import { AccountService } from '../accounts/account-service.js';
import { AuditLog } from '../audit/audit-log.js';
import type { GatewayConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { silentLogger } from '../log/logger.js';
import { systemClock, type Clock } from '../security/clock.js';
import { cryptoRandom, type RandomBytes } from '../security/random.js';
import { loadKeyring, type Keyring } from '../secrets/keyring.js';
import { SecretService } from '../secrets/secret-service.js';
import { BlockService } from '../rules/block-service.js';
import { SessionService } from '../sessions/session-service.js';
import { PasskeyService } from '../mfa/passkey-service.js';
import { TotpService } from '../mfa/totp-service.js';
import { openStore } from '../storage/open-store.js';
import { announcer } from '../cluster/announcer.js';
import { newNodeId } from '../cluster/node-messages.js';
import { confirmationTimeoutMs, liveWithinMs, RevocationConfirmations } from '../cluster/revocation-confirmations.js';
import { SessionMemory } from '../sessions/session-memory.js';
import type { Store } from '../storage/store.js';
import { SigningKeys } from '../trust/signing-keys.js';
import type { NodeRegistry } from '../cluster/node-registry.js';
import { servesAlone } from './worker-count.js';
import { errorFields } from '../log/error-fields.js';

/** Everything the gateway and the CLI work with, built from one configuration. */
export interface Services {
  config: GatewayConfig;
  store: Store;
  keyring: Keyring;
  audit: AuditLog;
  accounts: AccountService;
  secrets: SecretService;
  sessions: SessionService;
  /**
   * This process's session memory and its name among the serving processes (a serving process's
   * revocation follower keeps the memory trusted, app/create-gateway.ts); null in the CLI.
   */
  sessionMemory: { memory: SessionMemory; nodeId: string } | null;
  totp: TotpService;
  passkeys: PasskeyService;
  /** Active rate-rule blocks: listed and lifted from the CLI. */
  blocks: BlockService;
  /** Gatehouse's own keys for upstream assertions (SPEC §7); loaded by the gateway, rotated by the CLI. */
  signingKeys: SigningKeys;
  clock: Clock;
  random: RandomBytes;
  logger: Logger;
  close(): Promise<void>;
}

export interface ServiceOptions {
  clock?: Clock;
  random?: RandomBytes;
  logger?: Logger;
  /** An already-open store (tests share one between a gateway and the CLI code). */
  store?: Store;
  env?: NodeJS.ProcessEnv;
  /** Create the master key file if it is missing (first run). */
  createMasterKey?: boolean;
  /** How often a running gateway re-reads its signing keys, in real milliseconds (default 5 s, SPEC §7). */
  signingKeyRefreshInterval?: number;
  /** Keep a session memory (a serving process: createGateway sets it). */
  sessionMemory?: boolean;
  /** Wraps the opened store before anything uses it (createGateway times its calls for /metrics, SPEC §11). */
  wrapStore?: (store: Store) => Store;
}

/**
 * Opens the store and builds the services on it. Refuses (MasterKeyError) when the master key
 * cannot be read or does not match the store.
 */
export async function openServices(config: GatewayConfig, options: ServiceOptions = {}): Promise<Services> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandom;
  const logger = options.logger ?? silentLogger();
  const keyring = loadKeyring(config.masterKey, { create: options.createMasterKey ?? false, env: options.env ?? process.env, random });
  const opened = options.store ?? await openStore(config, { env: options.env ?? process.env, logger });
  const store = options.wrapStore ? options.wrapStore(opened) : opened;
  try {
    const audit = new AuditLog({ store: store.audit, logger, clock });
    const announce = announcer(store.channel, logger);
    const sessionMemory = options.sessionMemory ? { memory: new SessionMemory({ clock }), nodeId: newNodeId(cryptoRandom) } : null;
    // SPEC §8: the revoker waits for the other live processes; the registry is read this often
    // while it waits (a local file read on SQLite, where no message can wake it early).
    const confirmations = new RevocationConfirmations({
      registry: store.nodes,
      channel: store.channel,
      logger,
      pollMs: 'sqlite' in config.store ? 10 : 25,
      self: sessionMemory?.nodeId ?? null,
    });
    const sessions = new SessionService({
      store: store.sessions,
      logger,
      clock,
      random,
      audit,
      settings: { idleTimeout: config.session.idleTimeout, absoluteTimeout: config.session.absoluteTimeout },
      announce,
      memory: sessionMemory?.memory ?? null,
      confirm: (seq, announced) => confirmations.waitFor(seq, announced),
    });
    const accounts = new AccountService({
      users: store.users,
      revokeUserSessions: (userName, actor, reason) => sessions.revokeUser(userName, actor, reason),
      // A removed user's provider identities go with it: a later user of the same name must not
      // inherit them (SPEC §9, users are (issuer, sub), linked on purpose only).
      forgetUser: async (userName) => {
        await store.mfa.removeAll(userName);
        await store.oidc.unlinkUser(userName);
      },
      audit,
      clock,
      random,
    });
    const secrets = new SecretService({ store: store.secrets, meta: store.meta, keyring, clock, random, audit, announce });
    const totp = new TotpService({ store: store.mfa, users: store.users, keyring, clock, random, issuer: config.mfa.issuer, audit });
    const passkeys = new PasskeyService({ store: store.mfa, users: store.users, clock, random, publicOrigin: config.server.publicOrigin, rpName: config.mfa.issuer, audit });
    const blocks = new BlockService({ store: store.blocks, audit, clock, announce, ...(servesAlone(config) ? { settle: () => blockMemoryRead(store.nodes) } : {}) });
    const signingKeys = new SigningKeys({
      store: store.keys,
      keyring,
      clock,
      random,
      audit,
      logger,
      announce,
      ...(options.signingKeyRefreshInterval !== undefined ? { refreshIntervalMs: options.signingKeyRefreshInterval } : {}),
    });
    await secrets.verifyMasterKey();
    await accounts.init();
    return {
      config, store, keyring, audit, accounts, secrets, sessions, sessionMemory, totp, passkeys, blocks, signingKeys, clock, random, logger,
      close: async () => {
        signingKeys.stop();
        confirmations.stop();
        await sessions.flushActivity().catch((error: unknown) => {
          logger.error({ err: errorFields(error) }, 'could not record the last session activity');
        });
        if (!options.store) await store.close();
      },
    };
  } catch (error) {
    if (!options.store) await store.close();
    throw error;
  }
}

/**
 * A single SQLite process holds the active blocks in memory (app/create-gateway.ts): it answers from
 * it only while its last re-read started under `trustForMs` ago, so `confirmationTimeoutMs` after
 * a removal committed, it has re-read since (the same bound as a revoker's, 0008). Waited for only
 * while some process serves this file; if the registry cannot be read, waited for anyway.
 */
async function blockMemoryRead(registry: NodeRegistry): Promise<void> {
  const serving = await registry.live(liveWithinMs).then((nodes) => nodes.length > 0, () => true);
  if (serving) await new Promise((resolve) => setTimeout(resolve, confirmationTimeoutMs));
}
