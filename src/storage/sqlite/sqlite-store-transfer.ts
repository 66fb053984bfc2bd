import type { Database } from 'better-sqlite3';
import {
  contentTables,
  TargetNotEmptyError,
  transferTables,
  type StoreDump,
  type StoreTransfer,
  type TransferColumn,
  type TransferRow,
  type TransferTable,
  type TransferTableName,
  type TransferValue,
} from '../store-transfer.js';

const quoted = (name: string): string => `"${name}"`;

/** SQLite keeps flags as 0/1 and lists as JSON text (migrations.ts); the rest is as the port has it. */
function fromSqlite(column: TransferColumn, value: unknown): TransferValue {
  if (value === null) return null;
  if (column.type === 'bool') return value === 1;
  if (column.type === 'list') return JSON.parse(value as string) as string[];
  return value as TransferValue;
}

function toSqlite(column: TransferColumn, value: TransferValue | undefined): unknown {
  if (value === null || value === undefined) return null;
  if (column.type === 'bool') return value === true ? 1 : 0;
  if (column.type === 'list') return JSON.stringify(value);
  return value;
}

/** StoreTransfer on SQLite: better-sqlite3 is synchronous, so each side is one transaction on the connection. */
export class SqliteStoreTransfer implements StoreTransfer {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async dump(): Promise<StoreDump> {
    // A deferred transaction reads one snapshot of the file (WAL): writers meanwhile are not seen.
    const read = this.#db.transaction(() => {
      const dump: Partial<Record<TransferTableName, TransferRow[]>> = {};
      for (const table of transferTables) dump[table.name] = this.#read(table);
      return dump as StoreDump;
    });
    return read();
  }

  #read(table: TransferTable): TransferRow[] {
    const columns = table.columns.map((c) => quoted(c.name)).join(', ');
    const order = table.order === 'insertion' ? ' ORDER BY rowid' : ` ORDER BY ${table.order.map(quoted).join(', ')}`;
    const rows = this.#db.prepare(`SELECT ${columns} FROM ${quoted(table.name)}${order}`).all() as Record<string, unknown>[];
    return rows.map((row) => Object.fromEntries(table.columns.map((c) => [c.name, fromSqlite(c, row[c.name])])));
  }

  async load(dump: StoreDump): Promise<void> {
    // IMMEDIATE: the write lock is taken before the emptiness check, so no other process can write
    // between the check and the inserts; any throw rolls everything back.
    const write = this.#db.transaction(() => {
      const filled = contentTables.filter((table) => this.#db.prepare(`SELECT 1 FROM ${quoted(table.name)} LIMIT 1`).get() !== undefined);
      if (filled.length > 0) throw new TargetNotEmptyError(filled.map((table) => table.name));
      for (const table of transferTables) this.#write(table, dump[table.name]);
    });
    write.immediate();
  }

  #write(table: TransferTable, rows: readonly TransferRow[]): void {
    const names = table.columns.map((c) => quoted(c.name)).join(', ');
    const slots = table.columns.map(() => '?').join(', ');
    const verb = table.name === ('meta' satisfies TransferTableName) ? 'INSERT OR REPLACE' : 'INSERT';
    const insert = this.#db.prepare(`${verb} INTO ${quoted(table.name)} (${names}) VALUES (${slots})`);
    for (const row of rows) insert.run(table.columns.map((c) => toSqlite(c, row[c.name])));
  }
}
