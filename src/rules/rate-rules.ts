import type { AuditLog } from '../audit/audit-log.js';
import type { LimitConfig } from '../config/schema.js';
import { GatewayError } from '../errors/gateway-error.js';
import { compileGlob } from '../routing/path-glob.js';
import type { Clock } from '../security/clock.js';
import type { LiveSession } from '../sessions/session-service.js';
import type { BlockStore } from './block-store.js';
import type { CounterCheck, CounterStore } from './counter-store.js';

/** Who a rule counts: the parts of a request a key can come from. */
export interface RuleSubject {
  method: string;
  path: string;
  ip: string;
  live: LiveSession | null;
  requestId: string;
}

/** What a rule decided about one request. */
export type RuleVerdict =
  | { kind: 'pass' }
  | { kind: 'error'; error: GatewayError }
  /** The session was revoked: the request gets 401 and its cookie is cleared. */
  | { kind: 'revoked' }
  | { kind: 'respond'; status: number; body: string; headers: Record<string, string> };

const pass: RuleVerdict = { kind: 'pass' };

/** A `limits` rule compiled once: its matcher, key function and canned response. */
interface CompiledRule {
  readonly config: LimitConfig;
  readonly matchesPath: (path: string) => boolean;
  readonly methods: ReadonlySet<string> | null;
  /** For status rules: which response statuses count. */
  readonly countsStatus: ((status: number) => boolean) | null;
  readonly respond: { status: number; body: string; headers: Record<string, string> } | null;
  /** `rule:<name>:` and `trigger:<name>:`, the counter keys' fixed parts. */
  readonly counterPrefix: string;
  readonly triggerPrefix: string;
}

export interface RateRulesDeps {
  counters: CounterStore;
  /** Where `block` actions are kept: shared by every process, and lifted by `gatehouse block remove`. */
  blocks: BlockStore;
  clock: Clock;
  audit: AuditLog;
  revoke(live: LiveSession, reason: string, context: { ip: string; requestId: string }): Promise<void>;
}

/**
 * The rate rules of SPEC §5. Plain rules count requests they let through (a sliding window in
 * buckets of 1/60 of `per`, counter-store.ts) and answer the request that would be number max + 1
 * with their action. Status rules (`match.status`) count responses with a matching status; the
 * response that crosses `max` is delivered and the action applies from the key's next request.
 * Each trigger writes one audit event, not one per refused request.
 */
export class RateRules {
  readonly #rules: readonly CompiledRule[];
  readonly #deps: RateRulesDeps;
  /** Whether any rule blocks by address: only then is the early address check worth a lookup. */
  readonly blocksByIp: boolean;
  /** Whether any rule counts response statuses (then every response is observed). */
  readonly observesStatus: boolean;
  /** The identity keys some rule can block; only those are looked up per request. */
  readonly #identityBlocks: readonly ('session' | 'user')[];

  constructor(limits: readonly LimitConfig[], deps: RateRulesDeps) {
    this.#rules = limits.map(compileRule);
    this.#deps = deps;
    this.blocksByIp = limits.some((l) => l.action === 'block' && l.by === 'ip');
    this.observesStatus = this.#rules.some((r) => r.countsStatus !== null);
    this.#identityBlocks = (['session', 'user'] as const).filter((by) => limits.some((l) => l.action === 'block' && l.by === by));
  }

  get size(): number {
    return this.#rules.length;
  }

  /**
   * An address under a `block` (SPEC §5: refused on every request but /healthz and /readyz).
   * Without a promise when the blocks are held in memory (BlockStore.blockedUntilNow).
   */
  addressBlocked(ip: string): GatewayError | undefined | Promise<GatewayError | undefined> {
    if (!this.blocksByIp) return undefined;
    const now = this.#deps.clock.now();
    const known = this.#deps.blocks.blockedUntilNow?.('ip', ip, now);
    if (known !== undefined) return known === null ? undefined : blockedError(known, now);
    return this.#deps.blocks.blockedUntil('ip', ip, now).then((until) => (until === null ? undefined : blockedError(until, now)));
  }

  /** Applies every rule that matches the request; the first that refuses decides. */
  async check(subject: RuleSubject): Promise<RuleVerdict> {
    const now = this.#deps.clock.now();
    if (subject.live) {
      const blocks = this.#deps.blocks;
      for (const by of this.#identityBlocks) {
        const key = keyOf(by, subject)!;
        const known = blocks.blockedUntilNow?.(by, key, now);
        const until = known === undefined ? await blocks.blockedUntil(by, key, now) : known;
        if (until !== null) return { kind: 'error', error: blockedError(until, now) };
      }
    }
    // Every matching rule's counter work in one call (one Redis round trip: SPEC §8 "Speed"), which
    // runs them in order and stops at the first refusal, as awaiting each in turn would.
    const counted: { rule: CompiledRule; key: string }[] = [];
    const checks: CounterCheck[] = [];
    for (const rule of this.#rules) {
      if (!applies(rule, subject)) continue;
      const key = keyOf(rule.config.by, subject);
      if (key === null) continue;
      const { per: windowMs, max, action } = rule.config;
      if (!rule.countsStatus) checks.push({ verb: 'take', key: counterKey(rule, key), windowMs, max, marker: triggerKey(rule, key) });
      // A status rule's block and revoke apply when the response crosses max (observe), not here.
      else if (action === 'block' || action === 'revoke') continue;
      // Refused while more than max are counted: until enough leave the window for it to fall to max.
      else checks.push({ verb: 'count', key: counterKey(rule, key), windowMs, max: max + 1 });
      counted.push({ rule, key });
    }
    if (checks.length === 0) return pass;
    const results = await this.#deps.counters.evaluate(checks, now);
    const last = results[results.length - 1]!;
    if (last.allowed) return pass;
    const { rule, key } = counted[results.length - 1]!;
    if (rule.countsStatus) return this.#act(rule, key, subject, now, last.retryAt!);
    // One audit event per trigger: the first refusal while the key's window is full.
    if (last.first) this.#trigger(rule, key, subject);
    return this.#act(rule, key, subject, now, last.retryAt ?? now + rule.config.per);
  }



  /**
   * Counts a finished response for the status rules that match it (called when it was sent). Null
   * when none does (most responses): then there is nothing to wait for, and no promise is made.
   */
  observe(subject: RuleSubject, status: number): Promise<void> | null {
    let counted: { rule: CompiledRule; key: string }[] | null = null;
    for (const rule of this.#rules) {
      if (!rule.countsStatus?.(status) || !applies(rule, subject)) continue;
      const key = keyOf(rule.config.by, subject);
      if (key !== null) (counted ??= []).push({ rule, key });
    }
    return counted === null ? null : this.#count(counted, subject);
  }

  async #count(counted: readonly { rule: CompiledRule; key: string }[], subject: RuleSubject): Promise<void> {
    const now = this.#deps.clock.now();
    // Adds never refuse: one call counts the response for every rule (one Redis round trip).
    const results = await this.#deps.counters.evaluate(counted.map(({ rule, key }) => ({ verb: 'add', key: counterKey(rule, key), windowMs: rule.config.per })), now);
    for (const [i, { rule, key }] of counted.entries()) {
      if (results[i]!.count !== rule.config.max + 1) continue;
      // Crossing the limit: blocks and revocations take effect now, so the key's next request
      // meets them; reject and respond are answered by check() while the count stays above max.
      this.#trigger(rule, key, subject);
      if (rule.config.action === 'block') await this.#block(rule, key, now + rule.config.for!);
      if (rule.config.action === 'revoke' && subject.live) await this.#deps.revoke(subject.live, `rate_rule:${rule.config.name}`, subject);
    }
  }

  async #act(rule: CompiledRule, key: string, subject: RuleSubject, now: number, retryAt: number): Promise<RuleVerdict> {
    switch (rule.config.action) {
      case 'reject':
        return { kind: 'error', error: new GatewayError('rate_limited', { headers: { 'retry-after': String(seconds(retryAt - now)) } }) };
      case 'block': {
        // For `for`, and at least until the window has room again: else a client coming back when
        // Retry-After says would find it still full (by up to a bucket when `for` equals `per`)
        // and be blocked anew.
        const until = Math.max(now + rule.config.for!, retryAt);
        await this.#block(rule, key, until);
        return { kind: 'error', error: blockedError(until, now) };
      }
      case 'revoke':
        if (subject.live) await this.#deps.revoke(subject.live, `rate_rule:${rule.config.name}`, subject);
        return { kind: 'revoked' };
      case 'respond':
        return { kind: 'respond', ...rule.respond! };
    }
  }

  #block(rule: CompiledRule, key: string, until: number): Promise<void> {
    return this.#deps.blocks.add({ rule: rule.config.name, by: rule.config.by, key, until });
  }

  #trigger(rule: CompiledRule, key: string, subject: RuleSubject): void {
    this.#deps.audit.recordInBackground('rate_limit_triggered', { user: subject.live?.user.name ?? null, ip: subject.ip, requestId: subject.requestId }, {
      rule: rule.config.name,
      by: rule.config.by,
      action: rule.config.action,
      key,
    });
  }
}

function compileRule(config: LimitConfig): CompiledRule {
  const match = typeof config.match === 'string' ? { path: config.match, methods: undefined, status: undefined } : config.match;
  const statuses = match.status === undefined ? null : Array.isArray(match.status) ? match.status : [match.status];
  let respond: CompiledRule['respond'] = null;
  if (config.respond) {
    const body = config.respond.body;
    const json = typeof body !== 'string';
    respond = {
      status: config.respond.status,
      body: json ? JSON.stringify(body) : body,
      headers: { 'content-type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8', ...lowerCased(config.respond.headers) },
    };
  }
  return {
    config,
    matchesPath: compileGlob(match.path),
    methods: match.methods ? new Set(match.methods) : null,
    countsStatus: statuses ? statusMatcher(statuses) : null,
    respond,
    counterPrefix: `rule:${config.name}:`,
    triggerPrefix: `trigger:${config.name}:`,
  };
}

function statusMatcher(statuses: readonly (number | string)[]): (status: number) => boolean {
  const exact = new Set<number>();
  const classes = new Set<number>();
  for (const s of statuses) {
    if (typeof s === 'number') exact.add(s);
    else if (s.endsWith('xx')) classes.add(Number(s[0]));
    else exact.add(Number(s));
  }
  return (status) => exact.has(status) || classes.has(Math.floor(status / 100));
}

function applies(rule: CompiledRule, subject: RuleSubject): boolean {
  return (rule.methods === null || rule.methods.has(subject.method)) && rule.matchesPath(subject.path);
}

/**
 * What a rule counts and blocks a request by. A session is its handle: stable across the id's
 * rotations (login completion, password change), and not secret, so a block can be listed and
 * lifted by it and nothing derived from the cookie is stored or shown.
 */
function keyOf(by: LimitConfig['by'], subject: RuleSubject): string | null {
  if (by === 'ip') return subject.ip;
  if (!subject.live) return null;
  return by === 'session' ? subject.live.session.handle : subject.live.user.name;
}

function counterKey(rule: CompiledRule, key: string): string {
  return rule.counterPrefix + key;
}

/** Taken with max 1 when the rule refuses: allowed only for the window's first refusal (one audit event per trigger). */
function triggerKey(rule: CompiledRule, key: string): string {
  return rule.triggerPrefix + key;
}

function blockedError(until: number, now: number): GatewayError {
  return new GatewayError('blocked', { headers: { 'retry-after': String(seconds(until - now)) } });
}

/** Retry-After in whole seconds, rounded up (SPEC §5), never 0. */
function seconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

function lowerCased(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}
