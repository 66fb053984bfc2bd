import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { AuditContext } from '../../audit/audit-log.js';
import type { AuditEvent } from '../../audit/audit-store.js';
import type { Services } from '../../app/open-services.js';
import { blockListEntry } from '../../cli/block-list.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { readJson } from '../../http/read-json.js';
import type { LiveSession } from '../../sessions/session-service.js';
import { maskedConfig } from './masked-config.js';
import type { MetricsSampler } from './metrics-sampler.js';
import { overview } from './overview.js';

const name = z.string().min(1).max(256);
const userAction = z.strictObject({ name });
const sessionAction = z.strictObject({ handle: z.string().min(1).max(64) });
const blockAction = z.strictObject({ rule: z.string().min(1).max(256), key: z.string().min(1).max(512) });
/** The CLI refuses values under 8 bytes (secret-set.ts: too short for the leak guard); so does the console. */
const secretAction = z.strictObject({ name, value: z.string().min(8).max(64 * 1024) });

export interface ApiRequest {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  live: LiveSession;
  /** The admin as the actor of every change: audited as `detail.by` (sessions, accounts) or the event's user (secrets), as `cli` is. */
  actor: AuditContext;
}

type Read = (call: ApiRequest) => Promise<unknown>;
type Act = (call: ApiRequest) => Promise<unknown>;

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const auditLimit = 5_000;

/**
 * The console's JSON API: GETs read, POSTs act. Each action calls the very service method the CLI
 * command calls (cited beside it), so it takes effect the same way on every worker and node.
 */
export function consoleApi(services: Services, sampler: MetricsSampler | null = null): { reads: Map<string, Read>; actions: Map<string, Act> } {
  const bodyOf = <T>(call: ApiRequest, schema: z.ZodType<T>): Promise<T> => readJson(call.req, schema, 128 * 1024);
  const found = (done: unknown, what: string): void => {
    if (!done) throw new GatewayError('not_found', { message: `No such ${what}.` });
  };

  const reads = new Map<string, Read>([
    ['/api/session', async ({ live }) => ({ user: { name: live.user.name, roles: live.user.roles } })],
    ['/api/overview', async () => overview(services.store.audit, services.clock.now(), { sampler })],
    ['/api/users', async ({ url }) => {
      const q = (url.searchParams.get('q') ?? '').toLowerCase();
      const users = (await services.accounts.list()).filter((u) => u.name.toLowerCase().includes(q));
      return { users: users.map((u) => ({ name: u.name, roles: u.roles, locked: u.locked, passwordResetRequired: u.passwordResetRequired, mfaEnabled: u.mfaEnabled, lastLoginAt: iso(u.lastLoginAt) })) };
    }],
    ['/api/sessions', async ({ url }) => {
      const user = url.searchParams.get('user');
      const list = await services.sessions.list(user ? { userName: user } : {});
      return { sessions: list.map((s) => ({ id: s.handle, user: s.userName, createdAt: iso(s.createdAt), lastSeenAt: iso(s.lastSeenAt), ip: s.ip, userAgent: s.userAgent })) };
    }],
    ['/api/audit', async ({ url }) => ({ events: (await filteredAudit(services, url)).map(auditJson) })],
    // The same entries as `gatehouse block list --json` (cli/block-list.ts).
    ['/api/blocks', async () => ({ blocks: (await services.blocks.list()).map(blockListEntry) })],
    // Names and dates only: the service has no way to list values, and the console never asks for one.
    ['/api/secrets', async () => ({ secrets: (await services.secrets.list()).map((s) => ({ name: s.name, updatedAt: iso(s.updatedAt) })) })],
    ['/api/config', async () => ({ config: maskedConfig(services.config) })],
  ]);

  const actions = new Map<string, Act>([
    // cli/user-lock.ts
    ['/api/users/lock', async (call) => found(await services.accounts.lock((await bodyOf(call, userAction)).name, call.actor), 'user')],
    ['/api/users/unlock', async (call) => found(await services.accounts.unlock((await bodyOf(call, userAction)).name, call.actor), 'user')],
    // cli/user-require-reset.ts
    ['/api/users/require-reset', async (call) => found(await services.accounts.requireReset((await bodyOf(call, userAction)).name, call.actor), 'user')],
    // cli/user-mfa-reset.ts
    ['/api/users/mfa-reset', async (call) => {
      const { name: user } = await bodyOf(call, userAction);
      found(await services.accounts.get(user), 'user');
      await services.totp.resetAll(user, call.actor);
      await services.sessions.revokeUser(user, call.actor, 'mfa_reset');
    }],
    // cli/session-revoke.ts
    ['/api/sessions/revoke', async (call) => found(await services.sessions.revokeByHandle((await bodyOf(call, sessionAction)).handle, call.actor, 'revoked_from_console'), 'session')],
    // cli/block-remove.ts
    ['/api/blocks/remove', async (call) => {
      const { rule, key } = await bodyOf(call, blockAction);
      found(await services.blocks.remove(rule, key, call.actor), 'block');
    }],
    // cli/secret-set.ts: the value goes to the service and nowhere else (no log, no answer).
    ['/api/secrets/set', async (call) => {
      const { name: secret, value } = await bodyOf(call, secretAction);
      await services.secrets.set(secret, value, call.actor);
    }],
  ]);

  return { reads, actions };
}

/** GET /api/audit.jsonl: the same filter, one JSON object per line (JSON Lines), as a download. */
export async function auditExport(services: Services, url: URL): Promise<string> {
  return (await filteredAudit(services, url)).map((e) => JSON.stringify(auditJson(e))).join('\n') + '\n';
}

async function filteredAudit(services: Services, url: URL): Promise<AuditEvent[]> {
  const p = url.searchParams;
  const type = p.get('type') || null;
  const user = p.get('user') || null;
  const ip = p.get('ip') || null;
  const from = p.get('from') ? Date.parse(p.get('from')!) : null;
  const to = p.get('to') ? Date.parse(p.get('to')!) : null;
  const limit = Math.min(Number(p.get('limit')) || 500, auditLimit);
  const events = await services.store.audit.recent(auditLimit);
  return events.filter((e) => (type === null || e.type === type)
    && (user === null || e.user === user)
    && (ip === null || e.ip === ip)
    && (from === null || Number.isNaN(from) || e.time >= from)
    && (to === null || Number.isNaN(to) || e.time <= to)).slice(0, limit);
}

const auditJson = (e: AuditEvent): Record<string, unknown> => ({ time: iso(e.time), type: e.type, user: e.user, ip: e.ip, requestId: e.requestId, detail: e.detail });
