import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from '../columns';

export type SellerApplicationStatus = 'pending' | 'approved' | 'rejected';

/**
 * A user's application to sell (one per user; re-applying after a rejection reuses the row). An
 * admin approves it, which gives the user the `seller` role, or rejects it with a reason.
 */
@Entity('seller_applications')
@Index('ix_seller_applications_status', ['status', 'updatedAt'])
export class SellerApplicationEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Index('uq_seller_applications_user', { unique: true })
  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ name: 'business_name', type: 'varchar', length: 200 })
  businessName: string;

  @Column({ name: 'registration_number', type: 'varchar', length: 64 })
  registrationNumber: string;

  @Column({ name: 'contact_name', type: 'varchar', length: 100 })
  contactName: string;

  @Column({ name: 'contact_email', type: 'varchar', length: 254 })
  contactEmail: string;

  @Column({ name: 'contact_phone', type: 'varchar', length: 32 })
  contactPhone: string;

  @Column({ type: 'varchar', length: 16 })
  status: SellerApplicationStatus;

  @Column({ name: 'decision_reason', type: 'varchar', length: 500, nullable: true })
  decisionReason: string | null;

  @Column({ name: 'decided_by', type: 'varchar', length: 36, nullable: true })
  decidedBy: string | null;

  @Column({ name: 'decided_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  decidedAt: number | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt: number;
}
