import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from '../columns';

/**
 * The first response to a request with an `Idempotency-Key`, per user and key (the key stored as
 * its SHA-256). While the first request runs, `statusCode` is null (a placeholder that makes a
 * concurrent duplicate wait). Kept at least 24 h.
 */
@Entity('idempotency_keys')
export class IdempotencyKeyEntity {
  @PrimaryColumn({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @PrimaryColumn({ name: 'key_hash', type: 'varchar', length: 64 })
  keyHash: string;

  /** `METHOD /route/:pattern` plus the path's parameters. */
  @Column({ type: 'varchar', length: 300 })
  route: string;

  @Column({ name: 'body_hash', type: 'varchar', length: 64 })
  bodyHash: string;

  /** Set by the claim that inserted the row: tells a batched claimant whether it was first. */
  @Column({ type: 'varchar', length: 16 })
  nonce: string;

  @Column({ name: 'status_code', type: 'int', nullable: true })
  statusCode: number | null;

  @Column({ name: 'content_type', type: 'varchar', length: 100, nullable: true })
  contentType: string | null;

  @Column({ type: 'text', nullable: true })
  response: string | null;

  @Index('ix_idempotency_keys_created')
  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt: number;
}
