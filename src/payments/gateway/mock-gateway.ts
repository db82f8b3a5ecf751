import { randomBytes } from 'node:crypto';
import { httpExchange, keepAliveAgents, type HttpAgents } from '../http-exchange';
import { signatureHeader, SIGNATURE_HEADER } from '../signature';

/** A payment as the mock gateway keeps it. Money in minor units. */
export interface GatewayPayment {
  id: string;
  orderId: string;
  amount: number;
  currency: string;
  status: 'pending' | 'approved' | 'declined' | 'refunded';
  /** What was actually charged (differs from `amount` only when a test asks for it). */
  chargedAmount: number | null;
  webhookUrl: string;
  returnUrl: string | null;
  createdAt: number;
  updatedAt: number;
}

export type GatewayEventType = 'payment.approved' | 'payment.declined' | 'payment.refunded';

/** A webhook body (CONTRACT.md): `occurredAt` ISO-8601. */
export interface GatewayEvent {
  id: string;
  type: GatewayEventType;
  paymentId: string;
  orderId: string;
  amount: number;
  currency: string;
  occurredAt: string;
}

/**
 * Fault injection, for tests (each one-shot counter counts down as it is used):
 * - `delayMs`: every event waits this long before its first delivery attempt;
 * - `failNext`: the next N delivery attempts fail as a broken connection would (then the retry
 *   schedule runs, exactly as for a real failure);
 * - `duplicate`: every event is delivered this many extra times (same event id);
 * - `reorder`: the next event is held back and delivered right after the one that follows it;
 * - `dropNext`: the next N events are never delivered (a lost webhook: reconciliation's job);
 * - `apiLatencyMs`: every API answer of the gateway waits this long (a slow gateway);
 * - `signingSecret`: sign with this secret instead of the configured one (secret rotation tests).
 */
export interface GatewayFaults {
  delayMs: number;
  failNext: number;
  duplicate: number;
  reorder: boolean;
  dropNext: number;
  apiLatencyMs: number;
  signingSecret: string | null;
}

const noFaults = (): GatewayFaults => ({ delayMs: 0, failNext: 0, duplicate: 0, reorder: false, dropNext: 0, apiLatencyMs: 0, signingSecret: null });

/** One delivery attempt, as the gateway's log shows it (`GET /v1/_deliveries`). */
export interface DeliveryRecord {
  eventId: string;
  type: GatewayEventType;
  paymentId: string;
  attempt: number;
  /** The HTTP status the server answered, or what happened instead. */
  outcome: number | 'network-error' | 'injected-failure' | 'dropped' | 'gave-up';
  at: number;
}

export interface MockGatewayOptions {
  /** The webhook signing secret (the server's PAYMENT_WEBHOOK_SECRET). */
  secret: string;
  /** First retry delay (ms); each later one doubles, up to `maxRetryDelayMs`. Default 1000. */
  retryBaseMs?: number;
  maxRetryDelayMs?: number;
  /** Attempts per event before the gateway gives up (default 30: about a day at the default cap). */
  maxAttempts?: number;
  /** Approve every payment this many ms after it is created, as a shopper at the card page would. */
  autoApproveMs?: number | null;
  /** Timeout of one webhook request (ms), the wait for a free connection included. Default 10 s. */
  deliveryTimeoutMs?: number;
  /**
   * Webhook requests in flight at once to one endpoint (origin), over kept-alive connections;
   * later ones wait for a free connection, as with a real gateway's per-endpoint delivery limit.
   * Default 64.
   */
  deliveryConcurrency?: number;
  clock?: () => number;
  log?: (obj: object, msg: string) => void;
}

export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The mock payment gateway's state and behaviour, apart from HTTP: payments in memory, the
 * approve/decline/refund state machine, and signed webhook delivery with retries and backoff
 * (until a 2xx, like Stripe's and Toss's). {@link mockGatewayRoutes} puts its HTTP protocol on a
 * fastify instance.
 */
export class MockGateway {
  readonly payments = new Map<string, GatewayPayment>();
  readonly deliveries: DeliveryRecord[] = [];
  /** Webhook connections, kept alive and capped per endpoint (`deliveryConcurrency`); made on first use. */
  private webhookAgents: HttpAgents | null = null;
  faults: GatewayFaults = noFaults();
  private parked: GatewayEvent | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private readonly clock: () => number;

  constructor(private readonly options: MockGatewayOptions) {
    this.clock = options.clock ?? Date.now;
  }

  /** Creates a payment, or returns the one with this id (creation is idempotent by id). */
  create(input: { id: string; orderId: string; amount: number; currency: string; webhookUrl: string; returnUrl?: string | null }): { payment: GatewayPayment; created: boolean } {
    const existing = this.payments.get(input.id);
    if (existing) {
      if (existing.amount !== input.amount || existing.currency !== input.currency || existing.orderId !== input.orderId) {
        throw new GatewayError(409, 'payment_mismatch', `payment ${input.id} exists with another order, amount or currency`);
      }
      return { payment: existing, created: false };
    }
    const now = this.clock();
    const payment: GatewayPayment = { ...input, returnUrl: input.returnUrl ?? null, status: 'pending', chargedAmount: null, createdAt: now, updatedAt: now };
    this.payments.set(payment.id, payment);
    const auto = this.options.autoApproveMs;
    if (auto !== null && auto !== undefined) {
      this.later(auto, () => {
        if (this.payments.get(payment.id)?.status === 'pending') this.approve(payment.id);
      });
    }
    return { payment, created: true };
  }

  get(id: string): GatewayPayment {
    const payment = this.payments.get(id);
    if (!payment) throw new GatewayError(404, 'not_found', `no payment ${id}`);
    return payment;
  }

  /** The shopper completed the card form. `chargeAmount`: charge another amount (mismatch tests). */
  approve(id: string, chargeAmount?: number): GatewayPayment {
    const payment = this.get(id);
    if (payment.status === 'approved') return payment;
    if (payment.status !== 'pending') throw new GatewayError(409, 'not_pending', `payment ${id} is ${payment.status}`);
    payment.status = 'approved';
    payment.chargedAmount = chargeAmount ?? payment.amount;
    payment.updatedAt = this.clock();
    this.emit('payment.approved', payment, payment.chargedAmount);
    return payment;
  }

  decline(id: string): GatewayPayment {
    const payment = this.get(id);
    if (payment.status === 'declined') return payment;
    if (payment.status !== 'pending') throw new GatewayError(409, 'not_pending', `payment ${id} is ${payment.status}`);
    payment.status = 'declined';
    payment.updatedAt = this.clock();
    this.emit('payment.declined', payment, payment.amount);
    return payment;
  }

  /** Gives the money back (idempotent: refunding a refunded payment changes nothing). */
  refund(id: string): GatewayPayment {
    const payment = this.get(id);
    if (payment.status === 'refunded') return payment;
    if (payment.status !== 'approved') throw new GatewayError(409, 'not_refundable', `payment ${id} is ${payment.status}: only an approved payment can be refunded`);
    payment.status = 'refunded';
    payment.updatedAt = this.clock();
    this.emit('payment.refunded', payment, payment.chargedAmount ?? payment.amount);
    return payment;
  }

  setFaults(patch: Partial<GatewayFaults>): GatewayFaults {
    this.faults = { ...this.faults, ...patch };
    return this.faults;
  }

  /** Clears every fault and delivers an event held back for reordering. */
  resetFaults(): void {
    this.faults = noFaults();
    const parked = this.parked;
    this.parked = null;
    if (parked) this.dispatch(parked);
  }

  close(): void {
    this.closed = true;
    this.webhookAgents?.http.destroy();
    this.webhookAgents?.https.destroy();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private emit(type: GatewayEventType, payment: GatewayPayment, amount: number): void {
    const event: GatewayEvent = {
      id: `evt_${randomBytes(12).toString('hex')}`,
      type,
      paymentId: payment.id,
      orderId: payment.orderId,
      amount,
      currency: payment.currency,
      occurredAt: new Date(this.clock()).toISOString(),
    };
    const f = this.faults;
    if (f.dropNext > 0) {
      f.dropNext--;
      this.record(event, 0, 'dropped');
      return;
    }
    if (f.reorder) {
      if (!this.parked) {
        this.parked = event;
        return;
      }
      f.reorder = false;
      const parked = this.parked;
      this.parked = null;
      this.dispatch(event);
      this.dispatch(parked, 25); // a little after, so it really arrives second
      return;
    }
    this.dispatch(event);
  }

  private dispatch(event: GatewayEvent, extraDelayMs = 0): void {
    const copies = 1 + this.faults.duplicate;
    for (let i = 0; i < copies; i++) this.later(this.faults.delayMs + extraDelayMs + i * 5, () => this.attempt(event, 1));
  }

  private attempt(event: GatewayEvent, attempt: number): void {
    if (this.closed) return;
    const payment = this.payments.get(event.paymentId)!;
    if (this.faults.failNext > 0) {
      this.faults.failNext--;
      this.record(event, attempt, 'injected-failure');
      this.retry(event, attempt);
      return;
    }
    const body = JSON.stringify(event);
    const secret = this.faults.signingSecret ?? this.options.secret;
    const signature = signatureHeader(secret, Math.floor(this.clock() / 1000), body);
    this.webhookAgents ??= keepAliveAgents({ idleMs: 4000, maxSockets: this.options.deliveryConcurrency ?? 64 });
    httpExchange(this.webhookAgents, 'POST', new URL(payment.webhookUrl), {
      body,
      headers: { [SIGNATURE_HEADER]: signature, 'user-agent': 'dealrush-mock-gateway/1' },
      timeoutMs: this.options.deliveryTimeoutMs ?? 10_000,
    }).then(
      (res) => {
        this.record(event, attempt, res.status);
        if (res.status < 200 || res.status > 299) this.retry(event, attempt);
      },
      (err: unknown) => {
        this.record(event, attempt, 'network-error');
        this.options.log?.({ err: String(err), eventId: event.id, attempt }, 'webhook delivery failed');
        this.retry(event, attempt);
      },
    );
  }

  private retry(event: GatewayEvent, attempt: number): void {
    const max = this.options.maxAttempts ?? 30;
    if (attempt >= max) {
      this.record(event, attempt, 'gave-up');
      return;
    }
    const base = this.options.retryBaseMs ?? 1000;
    const delay = Math.min(base * 2 ** (attempt - 1), this.options.maxRetryDelayMs ?? 3_600_000);
    this.later(delay, () => this.attempt(event, attempt + 1));
  }

  private record(event: GatewayEvent, attempt: number, outcome: DeliveryRecord['outcome']): void {
    this.deliveries.push({ eventId: event.id, type: event.type, paymentId: event.paymentId, attempt, outcome, at: this.clock() });
    if (this.deliveries.length > 10_000) this.deliveries.splice(0, 1000);
  }

  private later(ms: number, run: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }
}
