import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from '../columns';

/**
 * A shopper's place in a deal's waiting room. Written only by the deal actor (fenced).
 * `status`: `prequeue` (before the start's shuffle), `waiting`, `admitted`, `done` (the admission
 * ended: `end_reason` says why), `skipped` (gone when reached).
 */
@Entity('tickets')
@Index('uq_tickets_deal_user', ['dealId', 'userId'], { unique: true })
@Index('ix_tickets_deal_seq', ['dealId', 'seq'])
export class TicketEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'deal_id', type: 'varchar', length: 36 })
  dealId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  /** 1-based order of joining. */
  @Column({ type: 'int' })
  arrival: number;

  @Column({ type: 'int', nullable: true })
  seq: number | null;

  @Column({ type: 'varchar', length: 16 })
  status: string;

  @Column({ name: 'joined_at', type: 'bigint', transformer: bigintNumber })
  joinedAt: number;

  @Column({ name: 'admitted_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  admittedAt: number | null;

  @Column({ name: 'admission_expires_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  admissionExpiresAt: number | null;

  @Column({ name: 'ended_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  endedAt: number | null;

  @Column({ name: 'end_reason', type: 'varchar', length: 16, nullable: true })
  endReason: string | null;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt: number;
}
