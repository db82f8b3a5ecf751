import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { bigintNumber, jsonText } from '../columns';

export interface WaitingRoomSettings {
  enabled: boolean;
  admissionPerMinute: number;
  maxActive: number;
  paused?: boolean;
}

/**
 * A deal: a limited stock on sale from `startsAt` to `endsAt`. Its row is written only by the deal
 * actor (fenced), so `remaining + held + sold == total` holds at every commit.
 */
@Entity('deals')
@Index('ix_deals_status_starts', ['status', 'startsAt'])
export class DealEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Index('ix_deals_seller')
  @Column({ name: 'seller_id', type: 'varchar', length: 36 })
  sellerId: string;

  @Column({ type: 'varchar', length: 200 })
  title: string;

  @Column({ type: 'text' })
  description: string;

  @Index('ix_deals_category')
  @Column({ type: 'varchar', length: 50 })
  category: string;

  @Column({ name: 'image_url', type: 'varchar', length: 500, nullable: true })
  imageUrl: string | null;

  /** Minor units of `currency`. */
  @Column({ type: 'bigint', transformer: bigintNumber })
  price: number;

  @Column({ name: 'original_price', type: 'bigint', transformer: bigintNumber })
  originalPrice: number;

  @Column({ type: 'varchar', length: 3 })
  currency: string;

  @Column({ name: 'total_stock', type: 'int' })
  totalStock: number;

  /** Units neither held nor sold. */
  @Column({ name: 'remaining_stock', type: 'int' })
  remainingStock: number;

  @Column({ name: 'held_units', type: 'int' })
  heldUnits: number;

  @Column({ name: 'sold_units', type: 'int' })
  soldUnits: number;

  /** Units returned after the deal closed (cancel or refund): back to the seller, not for sale. */
  @Column({ name: 'returned_units', type: 'int', default: 0 })
  returnedUnits: number;

  @Column({ name: 'per_user_limit', type: 'int' })
  perUserLimit: number;

  @Column({ name: 'starts_at', type: 'bigint', transformer: bigintNumber })
  startsAt: number;

  @Column({ name: 'ends_at', type: 'bigint', transformer: bigintNumber })
  endsAt: number;

  @Column({ type: 'varchar', length: 16 })
  status: string;

  @Column({ name: 'waiting_room', type: 'text', transformer: jsonText })
  waitingRoom: WaitingRoomSettings;

  /** The waiting room's counters (JSON of `QueueMeta`), null until the room first changes. */
  @Column({ name: 'queue_state', type: 'text', nullable: true, transformer: jsonText })
  queueState: unknown;

  /** Last `seq` of the deal's live event stream. */
  @Column({ type: 'bigint', transformer: bigintNumber })
  seq: number;

  @Column({ name: 'created_at', type: 'bigint', transformer: bigintNumber })
  createdAt: number;

  @Column({ name: 'updated_at', type: 'bigint', transformer: bigintNumber })
  updatedAt: number;
}
