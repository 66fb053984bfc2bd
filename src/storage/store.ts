import type { UserStore } from '../accounts/user-store.js';
import type { AuditStore } from '../audit/audit-store.js';
import type { BlockStore } from '../rules/block-store.js';
import type { CounterStore } from '../rules/counter-store.js';
import type { SecretStore } from '../secrets/secret-store.js';
import type { SessionStore } from '../sessions/session-store.js';
import type { MfaStore } from '../mfa/mfa-store.js';
import type { Resealable } from '../secrets/resealable.js';
import type { SigningKeyStore } from '../trust/signing-key-store.js';
import type { NodeChannel } from '../cluster/node-channel.js';
import type { RevocationLog } from '../cluster/revocation-log.js';
import type { NodeRegistry } from '../cluster/node-registry.js';
import type { LeaseStore } from '../cluster/lease-store.js';
import type { StoreTransfer } from './store-transfer.js';
import type { OidcStore } from '../oidc/oidc-store.js';
import type { ConnectionSlots } from '../realtime/connection-slots.js';

/** Small values the gateway keeps about itself (e.g. the master-key check value). */
/** Resealable: the master-key check value is re-sealed by master-key rotation. */
export interface MetaStore extends Resealable {
  get(key: string): Promise<string | null>;
  /** Sets only if absent; returns the value now stored (atomic: first writer wins). */
  putIfAbsent(key: string, value: string): Promise<string>;
  set(key: string, value: string): Promise<void>;
}

/** Everything a backend provides. One SQLite file today; Redis/PostgreSQL adapters later. */
export interface Store {
  users: UserStore;
  sessions: SessionStore;
  secrets: SecretStore;
  audit: AuditStore;
  meta: MetaStore;
  /** Rate-rule counters: Redis beside PostgreSQL (SPEC §8); the SQLite file on one machine. */
  counters: CounterStore;
  /**
   * The login throttle's failures and back-off holds: durable on both engines (SPEC §8, "Where state
   * lives": a Redis restart loses no login throttle; on SQLite a hold survives a restart too).
   */
  throttle: CounterStore;
  /** Rate-rule blocks: always here, shared by every process, whatever holds the counters. */
  blocks: BlockStore;
  mfa: MfaStore;
  /** Single sign-on: login states, provider identities, sessions' sealed tokens (SPEC §9). */
  oidc: OidcStore;
  /** Gatehouse's own keys for upstream assertions (SPEC §7). */
  keys: SigningKeyStore;
  /** Every revocation, appended by `sessions` with the deletion (SPEC §8). */
  revocations: RevocationLog;
  /** The serving processes on this store and how far each has applied that log (SPEC §8). */
  nodes: NodeRegistry;
  /** Short leases on keys, shared by every process and node on this store (cluster/single-flight.ts). */
  leases: LeaseStore;
  /** Each session's open WebSockets, counted by every process and node on this store (SPEC §10). */
  connectionSlots: ConnectionSlots;
  /**
   * Messages to and from the other processes on this store: Redis pub/sub beside PostgreSQL; on
   * SQLite a channel inside this process only (processes on one file follow the revocation log and `nodes` instead).
   */
  channel: NodeChannel;
  /** Every durable row at once, verbatim: `gatehouse store copy` (store-transfer.ts). */
  transfer: StoreTransfer;
  /** Resolves when the backend answers; rejects otherwise (used by /readyz). */
  ping(): Promise<void>;
  /**
   * With a cache beside the store (PostgreSQL + Redis, SPEC §8): resolves when it answers within
   * `cache.timeout`. Absent when there is no cache (SQLite).
   */
  pingCache?(): Promise<void>;
  close(): Promise<void>;
}
