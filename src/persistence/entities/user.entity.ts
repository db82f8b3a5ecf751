import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber, jsonText } from '../columns';

export type AccountStatus = 'active' | 'suspended';

/**
 * An account. `roles` is a comma-separated subset of `shopper,seller,admin` (`seller` only once an
 * admin approved the seller application, or given by `npm run mint`/`npm run admin`). A
 * `suspended` account's tokens are refused at once and it cannot log in. `failedLogins` counts
 * wrong passwords in a row; reaching `LOGIN_MAX_FAILURES` sets `lockedUntil`.
 */
@Entity('users')
export class UserEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Index('uq_users_email', { unique: true })
  @Column({ type: 'varchar', length: 254 })
  email: string;

  @Column({ name: 'password_hash', type: 'varchar', length: 255 })
  passwordHash: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'varchar', length: 64 })
  roles: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt: number;

  @Index('ix_users_status')
  @Column({ type: 'varchar', length: 16, default: 'active' })
  status: AccountStatus;

  @Column({ name: 'suspended_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  suspendedAt: number | null;

  @Column({ name: 'failed_logins', type: 'int', default: 0 })
  failedLogins: number;

  @Column({ name: 'last_failed_login_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  lastFailedLoginAt: number | null;

  @Column({ name: 'locked_until', type: 'bigint', nullable: true, transformer: bigintNumber })
  lockedUntil: number | null;

  /** A `ShippingAddress` (schemas.ts) as JSON, or null. */
  @Column({ name: 'default_shipping_address', type: 'text', nullable: true, transformer: jsonText })
  defaultShippingAddress: Record<string, string> | null;
}

/**
 * A refresh token, stored as a SHA-256 hash. Tokens of one login form a family; using a token
 * that was already rotated revokes the whole family (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
 */
@Entity('refresh_tokens')
export class RefreshTokenEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Index('ix_refresh_tokens_user')
  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Index('ix_refresh_tokens_family')
  @Column({ name: 'family_id', type: 'varchar', length: 36 })
  familyId: string;

  @Index('uq_refresh_tokens_hash', { unique: true })
  @Column({ name: 'token_hash', type: 'varchar', length: 64 })
  tokenHash: string;

  @Column({ name: 'expires_at', type: 'bigint', transformer: bigintNumber })
  expiresAt: number;

  @Column({ name: 'rotated_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  rotatedAt: number | null;

  @Column({ name: 'revoked_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  revokedAt: number | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt: number;
}
