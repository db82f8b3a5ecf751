import { createHash, randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { EntityManager } from 'typeorm';
import type { Role, User } from '../http/schemas';
import type { Database } from '../persistence/database';
import { RefreshTokenEntity, UserEntity } from '../persistence/entities/user.entity';
import { hashPassword, normalizeEmail, passwordProblem } from './passwords';

/** Claims of a Dealrush access token (HS256 JWT). */
export interface AccessClaims {
  sub: string;
  roles: Role[];
  typ: 'access';
}

export const toUser = (row: UserEntity): User => ({ id: row.id, email: row.email, name: row.name, roles: parseRoles(row.roles) });
export const parseRoles = (roles: string): Role[] => roles.split(',').filter(Boolean) as Role[];

/**
 * Creates an account. Returns null when the (normalised) email is taken.
 * @param roles default `['shopper']`.
 */
export async function createUser(db: Database, input: { email: string; password: string; name: string; roles?: Role[] }, now = Date.now()): Promise<UserEntity | null> {
  const passwordHash = await hashPassword(input.password);
  const row: UserEntity = {
    id: uuidv7(), email: normalizeEmail(input.email), passwordHash, name: input.name.trim(), roles: (input.roles ?? ['shopper']).join(','), createdAt: now,
    status: 'active', suspendedAt: null, failedLogins: 0, lastFailedLoginAt: null, lockedUntil: null, defaultShippingAddress: null,
  };
  try {
    await db.transaction((m) => m.insert(UserEntity, row));
    return row;
  } catch (error) {
    if (isUniqueViolation(error)) return null;
    throw error;
  }
}

export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; driverError?: { code?: string } };
  const code = e.driverError?.code ?? e.code ?? '';
  return code === 'ER_DUP_ENTRY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

const sha256 = (token: string) => createHash('sha256').update(token).digest('hex');

/** Issues a new refresh token (random 256 bits) in `familyId` (a new family when omitted). */
export async function issueRefreshToken(manager: EntityManager, userId: string, ttlSeconds: number, familyId = uuidv7(), now = Date.now()): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await manager.insert(RefreshTokenEntity, { id: uuidv7(), userId, familyId, tokenHash: sha256(token), expiresAt: now + ttlSeconds * 1000, rotatedAt: null, revokedAt: null, createdAt: now });
  return token;
}

export type RefreshOutcome = { ok: true; userId: string; refreshToken: string } | { ok: false; reason: 'unknown' | 'expired' | 'revoked' | 'reused' };

/**
 * Rotates a refresh token: the presented one is spent and a new one of the same family issued.
 * Presenting a token that was already rotated revokes the whole family (RFC 9700 §4.14.2).
 */
export async function rotateRefreshToken(db: Database, token: string, ttlSeconds: number, now = Date.now()): Promise<RefreshOutcome> {
  return db.transaction(async (m) => {
    const row = await m.findOne(RefreshTokenEntity, { where: { tokenHash: sha256(token) } });
    if (!row) return { ok: false, reason: 'unknown' } as const;
    if (row.revokedAt !== null) return { ok: false, reason: 'revoked' } as const;
    if (row.rotatedAt !== null) {
      await m.update(RefreshTokenEntity, { familyId: row.familyId }, { revokedAt: now });
      return { ok: false, reason: 'reused' } as const;
    }
    if (row.expiresAt <= now) return { ok: false, reason: 'expired' } as const;
    const spent = await m
      .createQueryBuilder()
      .update(RefreshTokenEntity)
      .set({ rotatedAt: now })
      .where('id = :id AND rotated_at IS NULL', { id: row.id })
      .execute();
    if (spent.affected !== 1) {
      await m.update(RefreshTokenEntity, { familyId: row.familyId }, { revokedAt: now });
      return { ok: false, reason: 'reused' } as const;
    }
    const refreshToken = await issueRefreshToken(m, row.userId, ttlSeconds, row.familyId, now);
    return { ok: true, userId: row.userId, refreshToken } as const;
  });
}

/** Revokes every refresh token of `userId` (suspension), or of one family (logout). */
export async function revokeRefreshTokens(manager: EntityManager, where: { userId: string } | { familyId: string }, now = Date.now()): Promise<void> {
  await manager
    .createQueryBuilder()
    .update(RefreshTokenEntity)
    .set({ revokedAt: now })
    .where('revoked_at IS NULL')
    .andWhere('userId' in where ? 'user_id = :userId' : 'family_id = :familyId', where)
    .execute();
}

/** Logout: revokes the family of `token`. Returns false when the token is not one of ours. */
export async function revokeFamilyOf(db: Database, token: string, now = Date.now()): Promise<boolean> {
  return db.transaction(async (m) => {
    const row = await m.findOne(RefreshTokenEntity, { where: { tokenHash: sha256(token) } });
    if (!row) return false;
    await revokeRefreshTokens(m, { familyId: row.familyId }, now);
    return true;
  });
}

export type LoginCheck = { ok: true } | { ok: false; reason: 'locked'; retryAfterSeconds: number } | { ok: false; reason: 'suspended' };

/** Whether `user` may try a password now: not suspended, not locked (a lock ends by itself). */
export function loginAllowed(user: UserEntity, now = Date.now()): LoginCheck {
  if (user.status === 'suspended') return { ok: false, reason: 'suspended' };
  if (user.lockedUntil !== null && user.lockedUntil > now) return { ok: false, reason: 'locked', retryAfterSeconds: Math.max(1, Math.ceil((user.lockedUntil - now) / 1000)) };
  return { ok: true };
}

/**
 * Records a wrong password. Failures count in a row while each comes within `windowMs` of the
 * previous one; the `maxFailures`-th locks the account for `windowMs` (OWASP Authentication Cheat
 * Sheet, "Account Lockout": a time-based unlock, counter reset on success).
 * @returns the lock's end (epoch ms) when this failure locked the account, else null.
 */
export async function recordFailedLogin(db: Database, userId: string, maxFailures: number, windowMs: number, now = Date.now()): Promise<number | null> {
  return db.transaction(async (m) => {
    // Reset a stale streak, then count this failure (two statements, one transaction).
    await m.createQueryBuilder().update(UserEntity).set({ failedLogins: 0 }).where('id = :id AND last_failed_login_at < :stale', { id: userId, stale: now - windowMs }).execute();
    await m
      .createQueryBuilder()
      .update(UserEntity)
      .set({ failedLogins: () => 'failed_logins + 1', lastFailedLoginAt: now })
      .where('id = :id', { id: userId })
      .execute();
    const lockedUntil = now + windowMs;
    const locked = await m
      .createQueryBuilder()
      .update(UserEntity)
      .set({ lockedUntil, failedLogins: 0 })
      .where('id = :id AND failed_logins >= :max', { id: userId, max: maxFailures })
      .execute();
    return locked.affected ? lockedUntil : null;
  });
}

/** A successful login clears the failure streak and any expired lock. */
export async function recordSuccessfulLogin(db: Database, user: UserEntity): Promise<void> {
  if (user.failedLogins === 0 && user.lockedUntil === null) return;
  await db.autocommit((m) => m.update(UserEntity, { id: user.id }, { failedLogins: 0, lockedUntil: null, lastFailedLoginAt: null }));
}

/** Adds `role` to the account's roles (idempotent). Returns the new roles, or null for no such user. */
export async function grantRole(manager: EntityManager, userId: string, role: Role): Promise<Role[] | null> {
  const row = await manager.findOne(UserEntity, { where: { id: userId } });
  if (!row) return null;
  const roles = parseRoles(row.roles);
  if (roles.includes(role)) return roles;
  const next = [...roles, role];
  await manager.update(UserEntity, { id: userId }, { roles: next.join(',') });
  return next;
}

export type EnsureAdminOutcome = 'created' | 'promoted' | 'unchanged';

/**
 * Makes `email` an admin: creates the account (roles shopper and admin) when no account has the
 * email, or adds the admin role to the one that has it (its password is left alone). For the
 * first admin, from `ADMIN_EMAIL`/`ADMIN_PASSWORD` at start or `npm run admin -- create`.
 * @throws Error when the account must be created and the password fails the policy.
 */
export async function ensureAdmin(db: Database, input: { email: string; password: string; name?: string }, now = Date.now()): Promise<{ outcome: EnsureAdminOutcome; user: User }> {
  const email = normalizeEmail(input.email);
  const existing = await db.read((m) => m.findOne(UserEntity, { where: { email } }));
  if (existing) {
    const before = parseRoles(existing.roles);
    const roles = await db.transaction((m) => grantRole(m, existing.id, 'admin'));
    return { outcome: before.includes('admin') ? 'unchanged' : 'promoted', user: { ...toUser(existing), roles: roles ?? before } };
  }
  const name = input.name?.trim() || 'Administrator';
  if (!input.password) throw new Error('a new admin account needs a password: set ADMIN_PASSWORD');
  const weak = passwordProblem(input.password, email, name);
  if (weak) throw new Error(`the admin password is too weak: ${weak}`);
  const row = await createUser(db, { email, password: input.password, name, roles: ['shopper', 'admin'] }, now);
  if (!row) return ensureAdmin(db, input, now); // created meanwhile by another node
  return { outcome: 'created', user: toUser(row) };
}
