import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber } from '../columns';

/**
 * `active`: in a cart, expires at `expiresAt`. `ordered`: attached to an order awaiting payment.
 * `sold`: paid. `released` (removed or order cancelled), `expired`: the units went back.
 */
export type HoldStatus = 'active' | 'ordered' | 'sold' | 'released' | 'expired' | 'refunded';

/** A hold: units of a deal set aside for one shopper. Written only by the deal actor. */
@Entity('holds')
@Index('ix_holds_deal_status', ['dealId', 'status'])
@Index('ix_holds_user_status', ['userId', 'status'])
export class HoldEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'deal_id', type: 'varchar', length: 36 })
  dealId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ type: 'int' })
  quantity: number;

  @Column({ name: 'unit_price', type: 'bigint', transformer: bigintNumber })
  unitPrice: number;

  @Column({ type: 'varchar', length: 3 })
  currency: string;

  @Column({ type: 'varchar', length: 16 })
  status: HoldStatus;

  @Index('ix_holds_order')
  @Column({ name: 'order_id', type: 'varchar', length: 36, nullable: true })
  orderId: string | null;

  @Column({ name: 'expires_at', type: 'bigint', transformer: bigintNumber })
  expiresAt: number;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt: number;
}
