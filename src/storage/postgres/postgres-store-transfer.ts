import type pg from 'pg';
import {
  contentTables,
  TargetNotEmptyError,
  transferTables,
  type StoreDump,
  type StoreTransfer,
  type TransferColumnType,
  type TransferRow,
  type TransferTable,
  type TransferTableName,
} from '../store-transfer.js';
import { transaction } from './queries.js';

const quoted = (name: string): string => `"${name}"`;

/** Each parameter is cast to its column's type, so no row's value is left to PostgreSQL's inference. */
const casts: Record<TransferColumnType, string> = { text: 'text', int: 'bigint', bool: 'boolean', list: 'text[]', blob: 'bytea' };

/** Parameters per INSERT: well under PostgreSQL's limit of 65535, and each statement stays short. */
const parametersPerStatement = 10_000;

/**
 * StoreTransfer on PostgreSQL. Flags, lists, BIGINT times (read as numbers, postgres-pool.ts) and
 * bytea are what the port speaks already. Identity columns (`seq`, the audit `id`) are not copied:
 * rows are inserted in their insertion order, so the target's own numbers keep that order.
 */
export class PostgresStoreTransfer implements StoreTransfer {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async dump(): Promise<StoreDump> {
    return transaction(this.#pool, async (client) => {
      // One snapshot for every table: rows written meanwhile (a gateway still serving) are not half seen.
      await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const dump: Partial<Record<TransferTableName, TransferRow[]>> = {};
      for (const table of transferTables) dump[table.name] = await read(client, table);
      return dump as StoreDump;
    });
  }

  async load(dump: StoreDump): Promise<void> {
    // The refusal leaves the transaction as a value: `transaction` reads any other throw as an outage.
    const filled = await transaction(this.#pool, async (client) => {
      // EXCLUSIVE: other sessions may still read, none may write until the commit, so nothing lands
      // between the emptiness check and the inserts (a gateway started on the target too early).
      await client.query(`LOCK TABLE ${transferTables.map((t) => quoted(t.name)).join(', ')} IN EXCLUSIVE MODE`);
      const found: TransferTable[] = [];
      for (const table of contentTables) {
        if ((await client.query(`SELECT 1 FROM ${quoted(table.name)} LIMIT 1`)).rows.length > 0) found.push(table);
      }
      if (found.length > 0) return found;
      for (const table of transferTables) await write(client, table, dump[table.name]);
      return [];
    });
    if (filled.length > 0) throw new TargetNotEmptyError(filled.map((table) => table.name));
  }
}

async function read(client: pg.PoolClient, table: TransferTable): Promise<TransferRow[]> {
  const columns = table.columns.map((c) => quoted(c.name)).join(', ');
  const order = table.order === 'insertion'
    ? ` ORDER BY ${table.name === 'audit_events' ? 'id' : 'seq'}`
    : ` ORDER BY ${table.order.map(quoted).join(', ')}`;
  return (await client.query<TransferRow>(`SELECT ${columns} FROM ${quoted(table.name)}${order}`)).rows;
}

async function write(client: pg.PoolClient, table: TransferTable, rows: readonly TransferRow[]): Promise<void> {
  const { columns } = table;
  const names = columns.map((c) => quoted(c.name)).join(', ');
  const conflict = table.name === 'meta' ? ' ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value' : '';
  const batch = Math.max(1, Math.floor(parametersPerStatement / columns.length));
  for (let start = 0; start < rows.length; start += batch) {
    const slice = rows.slice(start, start + batch);
    const tuples = slice.map((_, r) => `(${columns.map((c, i) => `$${r * columns.length + i + 1}::${casts[c.type]}`).join(', ')})`);
    const values = slice.flatMap((row) => columns.map((c) => row[c.name] ?? null));
    await client.query(`INSERT INTO ${quoted(table.name)} (${names}) VALUES ${tuples.join(', ')}${conflict}`, values);
  }
}
