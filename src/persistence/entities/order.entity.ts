import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber, jsonText } from '../columns';
import type { OrderStatus } from '../../http/schemas';

/** An order made from holds. Written only by its order actor. */
@Entity('orders')
@Index('ix_orders_user_created', ['userId', 'createdAt'])
@Index('ix_orders_status', ['status'])
export class OrderEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 36 })
  userId: string;

  @Column({ type: 'varchar', length: 20 })
  status: OrderStatus;

  @Column({ type: 'bigint', transformer: bigintNumber })
  total: number;

  @Column({ type: 'varchar', length: 3 })
  currency: string;

  @Column({ name: 'shipping_address', type: 'text', transformer: jsonText })
  shippingAddress: Record<string, string>;

  @Column({ name: 'payment_id', type: 'varchar', length: 64, nullable: true })
  paymentId: string | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt: number;

  @Column({ name: 'expires_at', type: 'bigint', transformer: bigintNumber })
  expiresAt: number;

  @Column({ name: 'paid_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  paidAt: number | null;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt: number;
}

/** One line of an order: units of one hold, at the price the hold was taken at. */
@Entity('order_items')
export class OrderItemEntity {
  /** `<orderId>-<line number>`. */
  @PrimaryColumn({ type: 'varchar', length: 48 })
  id: string;

  @Index('ix_order_items_order')
  @Column({ name: 'order_id', type: 'varchar', length: 36 })
  orderId: string;

  @Index('ix_order_items_deal')
  @Column({ name: 'deal_id', type: 'varchar', length: 36 })
  dealId: string;

  @Column({ name: 'hold_id', type: 'varchar', length: 36 })
  holdId: string;

  @Column({ type: 'int' })
  quantity: number;

  @Column({ name: 'unit_price', type: 'bigint', transformer: bigintNumber })
  unitPrice: number;
}

/** A payment attempt at the gateway for an order. */
@Entity('payments')
export class PaymentEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  @Index('ix_payments_order')
  @Column({ name: 'order_id', type: 'varchar', length: 36 })
  orderId: string;

  @Column({ type: 'varchar', length: 32 })
  provider: string;

  @Column({ type: 'bigint', transformer: bigintNumber })
  amount: number;

  @Column({ type: 'varchar', length: 3 })
  currency: string;

  @Column({ type: 'varchar', length: 16 })
  status: string;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt: number;
}
