import { createHash, randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import type { EntityManager } from 'typeorm';
import type { Role, User } from '../http/schemas';
import type { Database } from '../persistence/database';
import { RefreshTokenEntity, UserEntity } from '../persistence/entities/user.entity';
import { hashPassword, normalizeEmail } from './passwords';

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
  const row: UserEntity = { id: uuidv7(), email: normalizeEmail(input.email), passwordHash, name: input.name.trim(), roles: (input.roles ?? ['shopper']).join(','), createdAt: now };
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
