import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../security/clock.js';
import type { RandomBytes } from '../security/random.js';
import { createDummyHash, hashPassword, passwordProblem, passwordTooLong, verifyPassword } from './password.js';
import type { UserRecord, UserStore } from './user-store.js';
import { namePattern } from '../config/schema.js';

/** A refused account change. Messages name the rule broken, never the password. */
export class AccountError extends Error {
  readonly code: 'weak_password' | 'invalid_name' | 'invalid_role';

  constructor(code: AccountError['code'], message: string) {
    super(message);
    this.name = 'AccountError';
    this.code = code;
  }
}

/**
 * A name that can exist: 1 to 64 letters, digits, ".", "_", "-" or "@" (so e-mail addresses work as
 * names). Logins and look-ups accept all of these, so accounts created before the rule below keep working.
 */
const userNamePattern = /^[A-Za-z0-9._@-]{1,64}$/;
/** A new name also may not start with "-": the CLI prints names, and `gatehouse user lock -bob` would read an option. */
const newUserNamePattern = /^[A-Za-z0-9._@][A-Za-z0-9._@-]{0,63}$/;
/** Roles are matched against routes' `roles`, which the configuration restricts to its `name` rule. */

export interface AccountServiceDeps {
  users: UserStore;
  /** Ends every session of the user; returns how many. Supplied by the session service. */
  revokeUserSessions: (userName: string, actor: AuditContext, reason: string) => Promise<number>;
  /**
   * Deletes what other features keep about a removed user (second factors): a new user given the
   * same name later must not inherit them.
   */
  forgetUser?: (userName: string) => Promise<void>;
  audit: AuditLog;
  clock: Clock;
  random: RandomBytes;
}

/**
 * Users: creation, passwords, locking, and password authentication. Audit events name the account
 * as `user` and the actor (from the CLI or an admin) in `detail.by`.
 */
export class AccountService {
  readonly #users: UserStore;
  readonly #revokeUserSessions: AccountServiceDeps['revokeUserSessions'];
  readonly #forgetUser: NonNullable<AccountServiceDeps['forgetUser']>;
  readonly #audit: AuditLog;
  readonly #clock: Clock;
  readonly #random: RandomBytes;
  #dummyHash: string | null = null;
  #passwordVerifications = 0;

  constructor(deps: AccountServiceDeps) {
    this.#users = deps.users;
    this.#revokeUserSessions = deps.revokeUserSessions;
    this.#forgetUser = deps.forgetUser ?? (async () => undefined);
    this.#audit = deps.audit;
    this.#clock = deps.clock;
    this.#random = deps.random;
  }

  /**
   * How many argon2 verifications this service has run: a cost metric, and how the brute-force
   * tests prove that throttled attempts never reach the hasher (counted here, not by mocking it).
   */
  get passwordVerifications(): number {
    return this.#passwordVerifications;
  }

  /** Prepares the dummy hash `authenticate` verifies against for unknown users. Call once, before use. */
  async init(): Promise<void> {
    this.#dummyHash ??= await createDummyHash(this.#random);
  }

  async add(
    input: { name: string; roles: readonly string[]; password: string; requireReset: boolean },
    actor: AuditContext,
  ): Promise<'created' | 'exists'> {
    assertUserName(input.name);
    const roles = [...new Set(input.roles)];
    if (!roles.every((role) => namePattern.test(role))) {
      throw new AccountError('invalid_role', 'a role must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit');
    }
    assertStrong(input.password);
    // Avoids a needless argon2 hash; `create` below still decides atomically.
    if (await this.#users.get(input.name)) return 'exists';
    const created = await this.#users.create({
      name: input.name,
      roles,
      passwordHash: await hashPassword(input.password),
      locked: false,
      passwordResetRequired: input.requireReset,
      mfaEnabled: false,
      createdAt: this.#clock.now(),
      lastLoginAt: null,
    });
    if (!created) return 'exists';
    await this.#record('user_created', input.name, actor, { roles: roles.join(','), requireReset: input.requireReset });
    return 'created';
  }

  /** Sets a new password (admin), clears a pending reset, and ends every session of the user. */
  async setPassword(name: string, password: string, actor: AuditContext): Promise<boolean> {
    assertStrong(password);
    if (!(await this.#users.get(name))) return false;
    const passwordHash = await hashPassword(password);
    if (!(await this.#users.update(name, { passwordHash, passwordResetRequired: false }))) return false;
    // After the update, so a session opened with the old password meanwhile is ended too.
    await this.#revokeUserSessions(name, actor, 'password_set');
    await this.#record('password_changed', name, actor);
    return true;
  }

  /** Forces a password change at the next login and ends every session of the user. */
  async requireReset(name: string, actor: AuditContext): Promise<boolean> {
    if (!(await this.#users.update(name, { passwordResetRequired: true }))) return false;
    await this.#revokeUserSessions(name, actor, 'password_reset_required');
    await this.#record('password_reset_required', name, actor);
    return true;
  }

  /** A locked user cannot log in; locking ends every session of the user. */
  async lock(name: string, actor: AuditContext): Promise<boolean> {
    if (!(await this.#users.update(name, { locked: true }))) return false;
    await this.#revokeUserSessions(name, actor, 'user_locked');
    await this.#record('user_locked', name, actor);
    return true;
  }

  async unlock(name: string, actor: AuditContext): Promise<boolean> {
    if (!(await this.#users.update(name, { locked: false }))) return false;
    await this.#record('user_unlocked', name, actor);
    return true;
  }

  /**
   * Deletes the user and ends their sessions. The user goes first: once it is gone no new login can
   * succeed, so the revocation that follows cannot miss a session opened in between. Sessions are
   * revoked even when there was no such user, so none outlives a removal.
   */
  async remove(name: string, actor: AuditContext): Promise<boolean> {
    const removed = await this.#users.remove(name);
    await this.#revokeUserSessions(name, actor, 'user_removed');
    await this.#forgetUser(name);
    if (removed) await this.#record('user_removed', name, actor);
    return removed;
  }

  async list(): Promise<UserRecord[]> {
    return this.#users.list();
  }

  async get(name: string): Promise<UserRecord | null> {
    return this.#users.get(name);
  }

  /**
   * The user when the password is theirs and they are not locked; otherwise null. Exactly one argon2
   * verification runs whatever the case (unknown user, over-long password, locked user), so the time
   * taken does not tell them apart (OWASP Authentication Cheat Sheet, "Authentication Responses").
   */
  async authenticate(name: string, password: string): Promise<UserRecord | null> {
    const dummyHash = this.#requireDummyHash();
    // An over-long password is never hashed (argon2 work grows with input), but still costs a verify.
    const tooLong = passwordTooLong(password);
    const user = userNamePattern.test(name) ? await this.#users.get(name) : null;
    // A user an identity provider created has no password (an empty hash, SPEC §9): verified against
    // the dummy hash like an unknown user, so it neither logs in nor answers faster.
    const local = user !== null && user.passwordHash !== '';
    this.#passwordVerifications += 1;
    const matches = await verifyPassword(
      local && !tooLong ? user.passwordHash : dummyHash,
      tooLong ? '' : password,
    );
    if (!user || !local || tooLong || !matches || user.locked) return null;
    return user;
  }

  /**
   * Self-service change: the current password must be right (and the user not locked), the new one
   * acceptable. Clears a pending reset. The HTTP layer rotates the session and ends the others.
   */
  async changePassword(
    name: string,
    currentPassword: string,
    newPassword: string,
    context: AuditContext = {},
  ): Promise<'changed' | 'invalid_credentials' | 'weak_password'> {
    if (!(await this.authenticate(name, currentPassword))) return 'invalid_credentials';
    if (passwordProblem(newPassword) !== null) return 'weak_password';
    const passwordHash = await hashPassword(newPassword);
    if (!(await this.#users.update(name, { passwordHash, passwordResetRequired: false }))) return 'invalid_credentials';
    await this.#record('password_changed', name, { ...context, user: context.user ?? name });
    return 'changed';
  }

  /** Notes a successful login. */
  async recordLogin(name: string): Promise<void> {
    await this.#users.update(name, { lastLoginAt: this.#clock.now() });
  }

  #requireDummyHash(): string {
    if (this.#dummyHash === null) throw new Error('AccountService.init() must be called before authenticating');
    return this.#dummyHash;
  }

  /** An event about account `name`, done by `actor`. */
  async #record(
    type: 'user_created' | 'password_changed' | 'password_reset_required' | 'user_locked' | 'user_unlocked' | 'user_removed',
    name: string,
    actor: AuditContext,
    detail: Record<string, string | boolean> = {},
  ): Promise<void> {
    await this.#audit.record(type, { ip: actor.ip ?? null, requestId: actor.requestId ?? null, user: name }, { by: actor.user ?? null, ...detail });
  }
}

function assertUserName(name: string): void {
  if (!newUserNamePattern.test(name)) {
    throw new AccountError('invalid_name', 'a user name must be 1 to 64 letters, digits, ".", "_", "-" or "@", not starting with "-"');
  }
}

function assertStrong(password: string): void {
  const problem = passwordProblem(password);
  if (problem !== null) throw new AccountError('weak_password', problem);
}
