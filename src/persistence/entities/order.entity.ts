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

  /** The order's own refund (see OrderRefund): `pending` or `refunded`, or null. */
  @Column({ name: 'refund_status', type: 'varchar', length: 16, nullable: true })
  refundStatus: string | null;

  @Column({ name: 'refund_reason', type: 'varchar', length: 32, nullable: true })
  refundReason: string | null;

  @Column({ name: 'refund_payment_id', type: 'varchar', length: 64, nullable: true })
  refundPaymentId: string | null;

  @Column({ name: 'refund_amount', type: 'bigint', nullable: true, transformer: bigintNumber })
  refundAmount: number | null;

  @Column({ name: 'refunded_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  refundedAt: number | null;
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

/** A payment attempt at the gateway for an order. Written only by its order actor. */
@Entity('payments')
@Index('ix_payments_status_created', ['status', 'createdAt'])
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

  /** `pending`, `approved`, `declined`, `refund_pending` or `refunded` (PaymentStatus). */
  @Column({ type: 'varchar', length: 16 })
  status: string;

  /** Why admins must look at it (`amount_mismatch`), or null. */
  @Column({ type: 'varchar', length: 32, nullable: true })
  flag: string | null;

  @Column({ name: 'refund_reason', type: 'varchar', length: 32, nullable: true })
  refundReason: string | null;

  @Column({ name: 'refunded_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  refundedAt: number | null;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt: number;
}

/**
 * A webhook event as the gateway sent it, stored once (the event id is the key) before the
 * webhook is answered; `processedAt` is set once the order actor has applied it.
 */
@Entity('payment_events')
@Index('ix_payment_events_pending', ['processedAt', 'receivedAt'])
export class PaymentEventEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  @Column({ type: 'varchar', length: 32 })
  type: string;

  @Index('ix_payment_events_payment')
  @Column({ name: 'payment_id', type: 'varchar', length: 64 })
  paymentId: string;

  @Column({ name: 'order_id', type: 'varchar', length: 36 })
  orderId: string;

  @Column({ type: 'bigint', transformer: bigintNumber })
  amount: number;

  @Column({ type: 'varchar', length: 3 })
  currency: string;

  /** When the gateway says it happened (epoch ms). */
  @Column({ name: 'occurred_at', type: 'bigint', transformer: bigintNumber })
  occurredAt: number;

  @Column({ name: 'received_at', type: 'bigint', transformer: bigintNumber })
  receivedAt: number;

  @Column({ name: 'processed_at', type: 'bigint', nullable: true, transformer: bigintNumber })
  processedAt: number | null;

  /** What the order made of it (`paid`, `ignored: …`), for admins and the logs. */
  @Column({ type: 'varchar', length: 300, nullable: true })
  outcome: string | null;

  /** `webhook` or `reconciliation`. */
  @Column({ type: 'varchar', length: 16 })
  source: string;
}
