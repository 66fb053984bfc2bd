/**
 * Moving a whole store to another backend (`gatehouse store copy`, SPEC §2): every row of every
 * table that holds state worth keeping, read and written verbatim. Ids, handles and times are kept
 * as they are; sealed values stay sealed (the target must use the same master key), so nothing is
 * ever decrypted to be copied. The tables are described here once, as data; each engine only maps
 * its own column types (SQLite 0/1 and JSON text, PostgreSQL boolean and text[]) to these values.
 *
 * Not copied, on purpose: rate-rule counters (in Redis beside PostgreSQL; they restart empty as
 * after any Redis restart), the login throttle's windows and back-off holds (counted afresh by the
 * target: a back-off running when the copy is made ends with it, which SPEC §2's list allows), the
 * revocation log (a process follows one store's sequence; the target's starts empty, and a copy is
 * made with the gateways stopped), WebAuthn challenges (single-use, minutes long: a ceremony
 * begun before the copy is begun again), OIDC login states (the same: single-use, 10 minutes,
 * bound to a browser that simply starts its login again), leases (seconds long, held by running
 * processes only), open WebSockets' slots (live state of the running processes, decision 0015: the
 * copy is made with the gateways stopped, so none is open), and the ids of logout tokens seen (SPEC §9: each accepted once; a logout token is
 * accepted for minutes only, and the copy is made with the gateways stopped). Provider identities are copied (without them a linked user would come back as a
 * new one), and so are the sessions' sealed tokens (the sessions themselves are copied).
 */

/** How a column's values travel: an engine stores `bool` and `list` its own way. */
export type TransferColumnType = 'text' | 'int' | 'bool' | 'list' | 'blob';

export interface TransferColumn {
  name: string;
  type: TransferColumnType;
  /** The value is sealed under the master key (secrets/envelope.ts): its key must be the target's too. */
  sealed?: true;
}

export interface TransferTable {
  name: TransferTableName;
  columns: readonly TransferColumn[];
  /**
   * The order a dump lists the rows in, alike on every engine: the primary key's columns (compared
   * byte by byte on both), or 'insertion' where the order matters beyond the columns (the audit log;
   * sessions and passkeys created in one millisecond, which the ports order by insertion). Those are
   * inserted in that order, so the target's own ids or sequence numbers keep it.
   */
  order: readonly string[] | 'insertion';
  /** Columns an engine numbers by itself (an identity, a rowid alias): not copied, renumbered by the target. */
  generated?: readonly string[];
}

export type TransferTableName =
  | 'meta'
  | 'users'
  | 'totp_enrolments'
  | 'recovery_codes'
  | 'passkeys'
  | 'secrets'
  | 'signing_keys'
  | 'sessions'
  | 'rule_blocks'
  | 'oidc_identities'
  | 'oidc_sessions'
  | 'audit_events';

const text = (name: string): TransferColumn => ({ name, type: 'text' });
const int = (name: string): TransferColumn => ({ name, type: 'int' });
const bool = (name: string): TransferColumn => ({ name, type: 'bool' });

/** Every copied table, with the columns both engines' schemas give it (storage/*\/migrations.ts). */
export const transferTables: readonly TransferTable[] = [
  // meta is not "content": a target opened once by a CLI command holds its own master-key check value.
  { name: 'meta', columns: [text('key'), text('value')], order: ['key'] },
  {
    name: 'users',
    columns: [text('name'), { name: 'roles', type: 'list' }, text('password_hash'), bool('locked'), bool('password_reset_required'), bool('mfa_enabled'), int('created_at'), int('last_login_at')],
    order: ['name'],
  },
  // last_step: the last accepted code's time step (RFC 6238 §5.2), so a code used before the copy is not accepted after it.
  { name: 'totp_enrolments', columns: [text('user_name'), { name: 'sealed_secret', type: 'text', sealed: true }, int('confirmed_at'), int('last_step'), int('created_at')], order: ['user_name'] },
  { name: 'recovery_codes', columns: [text('user_name'), text('code_hash'), int('used_at')], order: ['user_name', 'code_hash'] },
  {
    name: 'passkeys',
    columns: [text('id'), text('user_name'), text('name'), { name: 'public_key', type: 'blob' }, int('counter'), { name: 'transports', type: 'list' }, int('created_at'), int('last_used_at')],
    order: 'insertion',
    generated: ['seq'],
  },
  { name: 'secrets', columns: [text('name'), { name: 'sealed', type: 'text', sealed: true }, int('updated_at')], order: ['name'] },
  { name: 'signing_keys', columns: [text('kid'), { name: 'sealed_private_key', type: 'text', sealed: true }, int('created_at'), int('retired_at'), int('published_until')], order: ['kid'] },
  {
    name: 'sessions',
    columns: [text('id_hash'), text('handle'), text('user_name'), int('created_at'), int('last_seen_at'), int('expires_at'), text('ip'), text('user_agent'), bool('password_reset_required'), bool('mfa_pending'), bool('mfa_completed')],
    order: 'insertion',
    generated: ['seq'],
  },
  { name: 'rule_blocks', columns: [text('rule'), text('by'), text('key'), int('until')], order: ['rule', 'key'] },
  { name: 'oidc_identities', columns: [text('issuer'), text('subject'), text('user_name'), int('created_at')], order: ['issuer', 'subject'] },
  {
    name: 'oidc_sessions',
    columns: [text('handle'), text('provider'), text('issuer'), text('subject'), text('sid'), { name: 'amr', type: 'list' }, { name: 'sealed_tokens', type: 'text', sealed: true }, int('access_expires_at'), int('created_at'), int('refresh_expires_at')],
    order: ['handle'],
  },
  { name: 'audit_events', columns: [int('time'), text('type'), text('user_name'), text('ip'), text('request_id'), text('detail')], order: 'insertion', generated: ['id'] },
];

/**
 * The tables deliberately left behind (see above), and each engine's own bookkeeping. Every table of
 * either schema is here or in `transferTables`: a test per engine compares this with the schema, so
 * a table or column a later migration adds cannot be silently left out of the copy.
 */
export const untransferredTables: readonly string[] = ['counter_windows', 'counter_blocks', 'revocations', 'live_nodes', 'leases', 'connection_slots', 'webauthn_challenges', 'oidc_login_states', 'oidc_logout_jtis', 'gatehouse_schema', 'sqlite_sequence'];

export type TransferValue = string | number | boolean | null | readonly string[] | Buffer;
export type TransferRow = Readonly<Record<string, TransferValue>>;

/** Every copied table's rows, read in one consistent snapshot. */
export type StoreDump = Readonly<Record<TransferTableName, readonly TransferRow[]>>;

/** The load refused: the target already holds rows (listed by table), and nothing was written. */
export class TargetNotEmptyError extends Error {
  readonly tables: readonly TransferTableName[];

  constructor(tables: readonly TransferTableName[]) {
    super(`the target store is not empty (it holds ${tables.join(', ')})`);
    this.name = 'TargetNotEmptyError';
    this.tables = tables;
  }
}

/** The store transfer port: one per engine, run through storage/contract/store-transfer.contract.ts. */
export interface StoreTransfer {
  /** Every row of every table in `transferTables`, in one read transaction (a consistent snapshot). */
  dump(): Promise<StoreDump>;
  /**
   * Inserts every row of `dump` in ONE transaction that holds the tables against other writers from
   * its first statement: all rows or none. Refuses with TargetNotEmptyError, writing nothing, when a
   * table other than meta holds a row; meta's values are replaced by the dump's (the master-key
   * check value, which the caller has proven the target's key opens).
   */
  load(dump: StoreDump): Promise<void>;
}

/** Tables whose emptiness decides whether a target may be loaded. */
export const contentTables: readonly TransferTable[] = transferTables.filter((table) => table.name !== 'meta');
