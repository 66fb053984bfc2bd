import Database from 'better-sqlite3';

/**
 * oidc-provider's storage (its Adapter interface: sessions, interactions, grants, codes, tokens) in
 * one SQLite file, so the demo provider's logins and the refresh tokens Gatehouse holds survive a
 * restart of `npm start`. The in-memory default would forget them, and every session would end at
 * its next refresh with invalid_grant.
 * https://github.com/panva/node-oidc-provider/blob/main/example/my_adapter.js
 */

export interface AdapterPayload {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number;
  [key: string]: unknown;
}

export interface OidcAdapter {
  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<AdapterPayload | undefined>;
  findByUid(uid: string): Promise<AdapterPayload | undefined>;
  findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

export interface AdapterStore {
  /** What oidc-provider's `adapter` option takes: one adapter per model name. */
  adapterFor(model: string): OidcAdapter;
  close(): void;
}

export function openAdapterStore(file: string, now: () => number = Date.now): AdapterStore {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE IF NOT EXISTS entries (
    model TEXT NOT NULL,
    id TEXT NOT NULL,
    payload TEXT NOT NULL,
    grant_id TEXT,
    uid TEXT,
    user_code TEXT,
    expires_at INTEGER,
    PRIMARY KEY (model, id)
  ) STRICT`);
  db.exec('CREATE INDEX IF NOT EXISTS entries_grant ON entries (grant_id)');
  const upsert = db.prepare(`INSERT INTO entries (model, id, payload, grant_id, uid, user_code, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id, uid = excluded.uid, user_code = excluded.user_code, expires_at = excluded.expires_at`);
  const byId = db.prepare<[string, string, number], { payload: string }>('SELECT payload FROM entries WHERE model = ? AND id = ? AND (expires_at IS NULL OR expires_at > ?)');
  const byUid = db.prepare<[string, string, number], { payload: string }>('SELECT payload FROM entries WHERE model = ? AND uid = ? AND (expires_at IS NULL OR expires_at > ?)');
  const byUserCode = db.prepare<[string, string, number], { payload: string }>('SELECT payload FROM entries WHERE model = ? AND user_code = ? AND (expires_at IS NULL OR expires_at > ?)');
  const remove = db.prepare('DELETE FROM entries WHERE model = ? AND id = ?');
  const removeGrant = db.prepare('DELETE FROM entries WHERE grant_id = ?');
  const removeExpired = db.prepare('DELETE FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ?');
  // Expired rows are unreadable at once; deleting them at open keeps the file small.
  removeExpired.run(now());

  const parse = (row: { payload: string } | undefined): AdapterPayload | undefined => (row ? JSON.parse(row.payload) as AdapterPayload : undefined);

  return {
    adapterFor(model) {
      return {
        async upsert(id, payload, expiresIn) {
          const expiresAt = typeof expiresIn === 'number' ? now() + expiresIn * 1000 : null;
          upsert.run(model, id, JSON.stringify(payload), payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expiresAt);
        },
        async find(id) {
          return parse(byId.get(model, id, now()));
        },
        async findByUid(uid) {
          return parse(byUid.get(model, uid, now()));
        },
        async findByUserCode(userCode) {
          return parse(byUserCode.get(model, userCode, now()));
        },
        async consume(id) {
          const payload = parse(byId.get(model, id, now()));
          if (!payload) return;
          payload.consumed = Math.floor(now() / 1000);
          db.prepare('UPDATE entries SET payload = ? WHERE model = ? AND id = ?').run(JSON.stringify(payload), model, id);
        },
        async destroy(id) {
          remove.run(model, id);
        },
        async revokeByGrantId(grantId) {
          removeGrant.run(grantId);
        },
      };
    },
    close: () => db.close(),
  };
}
