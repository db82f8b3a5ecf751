import { createHash } from 'node:crypto';
import { In, IsNull, LessThanOrEqual } from 'typeorm';
import { isUniqueViolation } from '../accounts/accounts';
import type { PaymentEventResult, PaymentOutcome } from '../actors/order/order-actor';
import type { Result } from '../actors/result';
import type { ActorSystem } from '../actors/runtime/actor-system';
import type { RuntimeLogger } from '../actors/runtime/actor';
import type { Database } from '../persistence/database';
import { PaymentEntity, PaymentEventEntity } from '../persistence/entities/order.entity';
import { GatewayRefusedError, type PaymentProvider } from './provider';

/** A webhook body (CONTRACT.md, "The payment gateway"). */
export interface PaymentWebhookEvent {
  id: string;
  type: 'payment.approved' | 'payment.declined' | 'payment.refunded';
  paymentId: string;
  orderId: string;
  amount: number;
  currency: string;
  occurredAt: string;
}

const OUTCOME: Record<PaymentWebhookEvent['type'], PaymentOutcome> = { 'payment.approved': 'approved', 'payment.declined': 'declined', 'payment.refunded': 'refunded' };
const BATCH = 100;

export interface PaymentServiceOptions {
  db: Database;
  actors: ActorSystem;
  provider: PaymentProvider;
  logger: RuntimeLogger;
  /** A payment pending this long (ms) is asked about at the gateway. */
  reconcileAfterMs: number;
  /** Called with every applied outcome (metrics, and the refunds job when an order asked for one). */
  onOutcome?: (applied: string) => void;
  clock?: () => number;
}

/**
 * The payment work behind the webhook route and the payment jobs. Every step is idempotent, so a
 * job that runs twice, or on two nodes at once, changes nothing twice:
 *
 * - {@link recordEvent}: stores a verified webhook event once (its id is the key);
 * - {@link processEvent}: hands a stored event to its order actor (whose payment states only move
 *   forward) and marks it processed;
 * - {@link reconcile}: asks the gateway about payments pending longer than `reconcileAfterMs` and
 *   settles them as their webhook would have (a lost webhook costs minutes, not an order);
 * - {@link settleRefunds}: asks the gateway to refund every payment an order marked
 *   `refund_pending` (a refund of a refunded payment changes nothing at the gateway);
 * - {@link processStale}: re-processes stored events whose processing was lost (a crash).
 */
export class PaymentService {
  private readonly clock: () => number;

  constructor(private readonly options: PaymentServiceOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Stores a verified event; `stored: false` when its id was seen before (a duplicate delivery). */
  async recordEvent(event: PaymentWebhookEvent, source: 'webhook' | 'reconciliation'): Promise<{ stored: boolean }> {
    const occurredAt = Date.parse(event.occurredAt);
    try {
      await this.options.db.autocommit((m) =>
        m.insert(PaymentEventEntity, {
          id: event.id,
          type: event.type,
          paymentId: event.paymentId,
          orderId: event.orderId,
          amount: event.amount,
          currency: event.currency,
          occurredAt: Number.isFinite(occurredAt) ? occurredAt : this.clock(),
          receivedAt: this.clock(),
          processedAt: null,
          outcome: null,
          source,
        }),
      );
      return { stored: true };
    } catch (error) {
      if (isUniqueViolation(error)) return { stored: false };
      throw error;
    }
  }

  /**
   * Applies a stored event to its order, once: the order actor is asked with a message id derived
   * from the event id (the runtime answers a redelivery from its inbox), and the event row is
   * marked processed with what became of it. Returns that outcome.
   */
  async processEvent(eventId: string): Promise<string> {
    const row = await this.options.db.read((m) => m.findOne(PaymentEventEntity, { where: { id: eventId } }));
    if (!row) return 'unknown event';
    if (row.processedAt !== null) return row.outcome ?? 'processed';
    let outcome: string;
    const orderExists = await this.options.db.read((m) => m.findOne(PaymentEntity, { select: { id: true, orderId: true }, where: { id: row.paymentId } }));
    if (!orderExists || orderExists.orderId !== row.orderId) {
      outcome = `ignored: no payment ${row.paymentId} of order ${row.orderId}`;
    } else {
      const reply = await this.options.actors.ask<Result<PaymentEventResult>>(
        { kind: 'order', id: row.orderId },
        { type: 'paymentEvent', now: this.clock(), paymentId: row.paymentId, outcome: OUTCOME[row.type as PaymentWebhookEvent['type']], amount: row.amount, currency: row.currency },
        { id: `payevt:${createHash('sha256').update(row.id).digest('hex').slice(0, 40)}`, durable: true },
      );
      outcome = reply.ok ? `${reply.value.applied}: ${reply.value.detail}` : `ignored: ${reply.error.detail}`;
      if (reply.ok) this.options.onOutcome?.(reply.value.applied);
    }
    await this.options.db.autocommit((m) => m.update(PaymentEventEntity, { id: row.id, processedAt: IsNull() }, { processedAt: this.clock(), outcome: outcome.slice(0, 300) }));
    this.options.logger.info({ eventId: row.id, type: row.type, paymentId: row.paymentId, orderId: row.orderId, source: row.source, outcome }, 'payment event processed');
    return outcome;
  }

  /** Processes stored events left unprocessed for `olderThanMs` (their processing was lost). */
  async processStale(olderThanMs = 5_000): Promise<number> {
    const rows = await this.options.db.read((m) =>
      m.find(PaymentEventEntity, { select: { id: true }, where: { processedAt: IsNull(), receivedAt: LessThanOrEqual(this.clock() - olderThanMs) }, order: { receivedAt: 'ASC' }, take: BATCH }),
    );
    for (const row of rows) await this.processEvent(row.id);
    return rows.length;
  }

  /**
   * Asks the gateway about each payment pending for longer than `reconcileAfterMs`, and applies
   * what it says as the webhook would have. A payment the gateway never heard of (the create call
   * never reached it) took no money: it is settled as declined.
   * @returns how many payments were checked and how many changed
   */
  async reconcile(): Promise<{ checked: number; settled: number }> {
    const before = this.clock() - this.options.reconcileAfterMs;
    const pending = await this.options.db.read((m) =>
      m.find(PaymentEntity, { where: { status: 'pending', createdAt: LessThanOrEqual(before) }, order: { createdAt: 'ASC' }, take: BATCH }),
    );
    let settled = 0;
    for (const payment of pending) {
      try {
        const view = await this.options.provider.getPayment(payment.id);
        if (view && view.status === 'pending') continue;
        const status = view?.status ?? 'declined';
        const event: PaymentWebhookEvent = {
          id: `recon_${payment.id}_${status}`,
          type: `payment.${status}` as PaymentWebhookEvent['type'],
          paymentId: payment.id,
          orderId: payment.orderId,
          amount: view ? (status === 'approved' || status === 'refunded' ? (view.chargedAmount ?? view.amount) : view.amount) : payment.amount,
          currency: view?.currency ?? payment.currency,
          occurredAt: new Date(this.clock()).toISOString(),
        };
        await this.recordEvent(event, 'reconciliation');
        await this.processEvent(event.id);
        settled++;
        this.options.logger.warn({ paymentId: payment.id, orderId: payment.orderId, status, known: view !== null }, 'reconciliation settled a payment whose webhook never came');
      } catch (err) {
        this.options.logger.warn({ err, paymentId: payment.id }, 'reconciliation could not ask the gateway; next run tries again');
      }
    }
    return { checked: pending.length, settled };
  }

  /** Asks the gateway to refund every payment marked `refund_pending`, and records each refund. */
  async settleRefunds(): Promise<number> {
    const due = await this.options.db.read((m) => m.find(PaymentEntity, { where: { status: In(['refund_pending']) }, order: { updatedAt: 'ASC' }, take: BATCH }));
    let done = 0;
    for (const payment of due) {
      try {
        const view = await this.options.provider.refund(payment.id);
        if (view.status !== 'refunded') continue;
        const event: PaymentWebhookEvent = {
          id: `refund_${payment.id}`,
          type: 'payment.refunded',
          paymentId: payment.id,
          orderId: payment.orderId,
          amount: view.chargedAmount ?? view.amount,
          currency: view.currency,
          occurredAt: new Date(this.clock()).toISOString(),
        };
        await this.recordEvent(event, 'reconciliation');
        await this.processEvent(event.id);
        done++;
      } catch (err) {
        const level = err instanceof GatewayRefusedError ? 'error' : 'warn';
        this.options.logger[level]({ err, paymentId: payment.id, orderId: payment.orderId }, 'refund not done at the gateway; next run tries again');
      }
    }
    return done;
  }

  /** One run of every periodic job: stale events, refunds, reconciliation. */
  async sweep(): Promise<{ stale: number; refunds: number; checked: number; settled: number }> {
    const stale = await this.processStale();
    const refunds = await this.settleRefunds();
    const { checked, settled } = await this.reconcile();
    // A reconciliation that found a late approval has just asked for a refund: do it now.
    const more = settled > 0 ? await this.settleRefunds() : 0;
    return { stale, refunds: refunds + more, checked, settled };
  }
}
