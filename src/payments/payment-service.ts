import { createHash } from 'node:crypto';
import { isUniqueViolation } from '../accounts/accounts';
import { And, In, IsNull, LessThanOrEqual, MoreThan, MoreThanOrEqual, type EntityManager } from 'typeorm';
import type { PaymentEventResult, PaymentOutcome } from '../actors/order/order-actor';
import type { Result } from '../actors/result';
import type { ActorSystem } from '../actors/runtime/actor-system';
import type { RuntimeLogger } from '../actors/runtime/actor';
import { Batcher } from '../persistence/batcher';
import type { Database } from '../persistence/database';
import { execute, placeholders } from '../persistence/sql';
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

/** A stored event's fields as {@link PaymentService.processEvent} needs them. */
export interface StoredPaymentEvent {
  id: string;
  type: string;
  paymentId: string;
  orderId: string;
  amount: number;
  currency: string;
  occurredAt: number;
  receivedAt: number;
  source: string;
}

const OUTCOME: Record<PaymentWebhookEvent['type'], PaymentOutcome> = { 'payment.approved': 'approved', 'payment.declined': 'declined', 'payment.refunded': 'refunded' };
const BATCH = 100;
const EVENT_COLUMNS = 'id, type, payment_id, order_id, amount, currency, occurred_at, received_at, processed_at, outcome, source';
/** A stored event's values in {@link EVENT_COLUMNS} order (not yet processed). */
const eventValues = (e: StoredPaymentEvent) => [e.id, e.type, e.paymentId, e.orderId, e.amount, e.currency, e.occurredAt, e.receivedAt, null, null, e.source];
/** Gateway status queries the deadline checks ({@link PaymentService.checkBeforeExpiry}) make at once. */
const CHECKS_IN_FLIGHT = 64;

export interface PaymentServiceOptions {
  db: Database;
  actors: ActorSystem;
  provider: PaymentProvider;
  logger: RuntimeLogger;
  /** A payment pending this long (ms) is asked about at the gateway. */
  reconcileAfterMs: number;
  /** Payments asked about per reconciliation run (default 100). */
  reconcileBatch?: number;
  /**
   * Payments created longer ago than this (ms) are not asked about any more (default: no limit).
   * One the shopper never paid stays pending at the gateway for good; without a limit every
   * reconciliation cycle would ask about all of them again, for ever, and each cycle would grow.
   */
  reconcileMaxAgeMs?: number;
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
 * - {@link processStale}: re-processes stored events whose processing was lost (a crash);
 * - {@link checkBeforeExpiry}: the last look at a payment still pending at its order's deadline.
 */
export class PaymentService {
  private readonly clock: () => number;
  /** Deadline checks asking the gateway now, and the ones waiting for a turn. */
  private checksInFlight = 0;
  private readonly checksWaiting: Array<() => void> = [];
  /** Event rows to store, grouped (see {@link recordEvent}). */
  private readonly inserts: Batcher<StoredPaymentEvent, { stored: boolean; row: StoredPaymentEvent }>;
  /** Payment id -> its order id (null: no such payment), looked up many at a time. */
  private readonly paymentOrders: Batcher<string, string | null>;
  /** Events to mark processed with their outcome, many per statement. */
  private readonly processed: Batcher<{ id: string; outcome: string }, void>;
  /** Where the next reconciliation run goes on from (the last payment asked about); null: from the oldest. */
  private reconcileCursor: { createdAt: number; id: string } | null = null;

  constructor(private readonly options: PaymentServiceOptions) {
    this.clock = options.clock ?? Date.now;
    const { db } = options;
    const insertIgnore = db.dialect === 'sqlite' ? 'INSERT OR IGNORE' : 'INSERT IGNORE';
    const insert = (m: EntityManager, verb: string, rows: StoredPaymentEvent[]) =>
      execute(m, `${verb} INTO payment_events (${EVENT_COLUMNS}) VALUES ${placeholders(rows.length, 11)}`, rows.flatMap(eventValues));
    this.inserts = new Batcher(
      (events) =>
        db.autocommit(async (m) => {
          // A second copy of an event in the same group is a duplicate of the first.
          const first = new Map<string, StoredPaymentEvent>();
          for (const e of events) if (!first.has(e.id)) first.set(e.id, e);
          const unique = [...first.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)); // key order: fewer lock waits between groups
          const stored = new Set<string>();
          try {
            // One statement, committed on its own before anyone is answered; all or nothing.
            await insert(m, 'INSERT', unique);
            for (const e of unique) stored.add(e.id);
          } catch (error) {
            if (!isUniqueViolation(error)) throw error;
            // Some event was stored before (a redelivery): the new ones go in and come back by id,
            // still one statement. (Row by row, a rush of redeliveries, the gateway retrying what
            // timed out, made each group hundreds of round trips: webhooks waited seconds behind
            // them, timed out, and were sent again.)
            const inserted: Array<{ id: string }> = await m.query(
              `${insertIgnore} INTO payment_events (${EVENT_COLUMNS}) VALUES ${placeholders(unique.length, 11)} RETURNING id`,
              unique.flatMap(eventValues),
            );
            for (const row of inserted) stored.add(String(row.id));
          }
          return events.map((row) => ({ stored: stored.has(row.id) && first.get(row.id) === row, row }));
        }),
      { concurrency: 2, maxBatch: 200 },
    );
    this.paymentOrders = new Batcher(
      async (ids) => {
        const unique = [...new Set(ids)];
        const rows: Array<{ id: string; order_id: string }> = await db.read((m) => m.query(`SELECT id, order_id FROM payments WHERE id IN (${unique.map(() => '?').join(', ')})`, unique));
        const orderOf = new Map(rows.map((r) => [String(r.id), String(r.order_id)]));
        return ids.map((id) => orderOf.get(id) ?? null);
      },
      { concurrency: 2, maxBatch: 200 },
    );
    this.processed = new Batcher(
      async (items) => {
        const byId = new Map(items.map((i) => [i.id, i.outcome]));
        const ids = [...byId.keys()].sort();
        // By primary key only, in key order, one statement at a time: a `processed_at IS NULL`
        // condition could make the statement scan (and lock) the pending-events index, which
        // deadlocked against concurrent marks and inserts. An event processed already keeps its
        // time and outcome (outcome is assigned first, while processed_at still holds the old value).
        await db.autocommit((m) =>
          execute(
            m,
            `UPDATE payment_events SET outcome = CASE WHEN processed_at IS NULL THEN CASE id ${ids.map(() => 'WHEN ? THEN ?').join(' ')} END ELSE outcome END, processed_at = COALESCE(processed_at, ?) WHERE id IN (${ids.map(() => '?').join(', ')})`,
            [...ids.flatMap((id) => [id, byId.get(id)]), this.clock(), ...ids],
          ),
        );
        return items.map(() => undefined);
      },
      { concurrency: 1, maxBatch: 200 },
    );
  }

  /**
   * Stores a verified event; `stored: false` when its id was seen before (a duplicate delivery).
   * `row`: the event as stored (for {@link processEvent}).
   * Concurrent events are written together (one multi-row `INSERT`, committed before any of them
   * is answered; a second copy in the same group is a duplicate); when some id was stored before,
   * that statement inserts nothing and the group goes in again as one `INSERT IGNORE … RETURNING
   * id` (MariaDB 10.5+, SQLite 3.35+), whose rows say which events are new.
   */
  recordEvent(event: PaymentWebhookEvent, source: 'webhook' | 'reconciliation'): Promise<{ stored: boolean; row: StoredPaymentEvent }> {
    const occurredAt = Date.parse(event.occurredAt);
    return this.inserts.submit({
      id: event.id,
      type: event.type,
      paymentId: event.paymentId,
      orderId: event.orderId,
      amount: event.amount,
      currency: event.currency,
      occurredAt: Number.isFinite(occurredAt) ? occurredAt : this.clock(),
      receivedAt: this.clock(),
      source,
    });
  }

  /**
   * Applies a stored event to its order, once: the order actor is asked with a message id derived
   * from the event id (the runtime answers a redelivery from its inbox), and the event row is
   * marked processed with what became of it. Returns that outcome. `stored`: the event as this
   * process has just stored it (unprocessed), which spares reading its row back.
   */
  async processEvent(eventId: string, stored?: StoredPaymentEvent): Promise<string> {
    let row: StoredPaymentEvent;
    if (stored && stored.id === eventId) {
      row = stored;
    } else {
      const found = await this.options.db.read((m) => m.findOne(PaymentEventEntity, { where: { id: eventId } }));
      if (!found) return 'unknown event';
      if (found.processedAt !== null) return found.outcome ?? 'processed';
      row = found;
    }
    let outcome: string;
    const orderOfPayment = await this.paymentOrders.submit(row.paymentId);
    if (orderOfPayment !== row.orderId) {
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
    await this.processed.submit({ id: row.id, outcome: outcome.slice(0, 300) });
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
   * Asks the gateway about each payment pending for longer than `reconcileAfterMs` (and created
   * within `reconcileMaxAgeMs`), and applies what it says as the webhook would have. A payment the
   * gateway never heard of (the create call never reached it) took no money: it is settled as
   * declined.
   * @returns how many payments were checked and how many changed
   */
  async reconcile(): Promise<{ checked: number; settled: number }> {
    const now = this.clock();
    const before = now - this.options.reconcileAfterMs;
    // Created at or after this (a payment older than the limit is no longer asked about).
    const oldest = this.options.reconcileMaxAgeMs === undefined ? Number.MIN_SAFE_INTEGER : now - this.options.reconcileMaxAgeMs;
    const batch = this.options.reconcileBatch ?? BATCH;
    // Each run takes the next `batch` payments after the last one asked about (oldest first),
    // and starts over once it reaches the end: payments the shopper never paid stay pending at the
    // gateway for good, and without the cursor the oldest of them would fill every run and hide a
    // newer payment whose webhook was lost.
    const after = this.reconcileCursor;
    const pending = await this.options.db.read((m) =>
      m.find(PaymentEntity, {
        where:
          after && after.createdAt >= oldest
            ? [
                { status: 'pending', createdAt: And(MoreThan(after.createdAt), LessThanOrEqual(before)) },
                { status: 'pending', createdAt: after.createdAt, id: MoreThan(after.id) },
              ]
            : { status: 'pending', createdAt: And(MoreThanOrEqual(oldest), LessThanOrEqual(before)) },
        order: { createdAt: 'ASC', id: 'ASC' },
        take: batch,
      }),
    );
    const last = pending[pending.length - 1];
    this.reconcileCursor = pending.length < batch || !last ? null : { createdAt: last.createdAt, id: last.id };
    let settled = 0;
    for (const payment of pending) {
      try {
        const status = await this.settleFromGateway(payment);
        if (status === 'pending') continue;
        settled++;
        this.options.logger.warn({ paymentId: payment.id, orderId: payment.orderId, status }, 'reconciliation settled a payment whose webhook never came');
      } catch (err) {
        this.options.logger.warn({ err, paymentId: payment.id }, 'reconciliation could not ask the gateway; next run tries again');
      }
    }
    return { checked: pending.length, settled };
  }

  /**
   * Asks the gateway about one of our payments and, unless it is still pending there, applies
   * what it says as its webhook would have (event id `recon_<payment>_<status>`, so the same
   * answer found twice is one event). A payment the gateway never heard of (the create call never
   * reached it) took no money: it is settled as declined.
   * @returns the gateway's status, `unknown` for a payment it never heard of
   * @throws GatewayUnavailableError when the gateway does not answer (nothing is applied)
   */
  private async settleFromGateway(payment: { id: string; orderId: string; amount: number; currency: string }): Promise<'approved' | 'declined' | 'refunded' | 'pending' | 'unknown'> {
    const view = await this.options.provider.getPayment(payment.id);
    if (view && view.status === 'pending') return 'pending';
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
    return view ? status : 'unknown';
  }

  /**
   * The last look before an order expires (its actor signals `order:paymentCheck` when its
   * deadline comes with payment `paymentId` still pending): asks the gateway about the payment and
   * applies the answer (an approval pays the order, however late or lost its webhook), then tells
   * the order, which expires if it is still unpaid. At most {@link CHECKS_IN_FLIGHT} checks ask
   * the gateway at once, the others wait their turn. A gateway that does not answer leaves the
   * order to its grace reminder (`ORDER_PAYMENT_CHECK_GRACE_SECONDS`), which expires it.
   * `checkBy` (epoch ms): the end of that grace; a check whose turn comes later is skipped.
   * @returns what the gateway said (`approved`, `declined`, `refunded`, `pending`, `unknown`: it
   *   never heard of the payment), `unanswered`, or `too_late`
   */
  async checkBeforeExpiry(orderId: string, paymentId: string, checkBy = Number.POSITIVE_INFINITY): Promise<string> {
    if (this.checksInFlight >= CHECKS_IN_FLIGHT) await new Promise<void>((resolve) => this.checksWaiting.push(resolve));
    else this.checksInFlight++;
    try {
      // Its turn came after the grace: the order has expired on its own, asking would change nothing.
      if (this.clock() > checkBy) return 'too_late';
      let status: string;
      try {
        const known = await this.options.db.read((m) => m.findOne(PaymentEntity, { where: { id: paymentId, orderId } }));
        if (!known) return 'unknown';
        status = await this.settleFromGateway(known);
      } catch (err) {
        this.options.logger.warn({ err, orderId, paymentId }, 'could not ask the gateway about a payment at its order\'s deadline; the order expires after its grace');
        return 'unanswered';
      }
      await this.options.actors.ask({ kind: 'order', id: orderId }, { type: 'paymentChecked', now: this.clock(), paymentId });
      if (status !== 'pending') this.options.logger.info({ orderId, paymentId, status }, 'a payment pending at its order\'s deadline was settled by asking the gateway');
      return status;
    } finally {
      const next = this.checksWaiting.shift();
      if (next) next();
      else this.checksInFlight--;
    }
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
