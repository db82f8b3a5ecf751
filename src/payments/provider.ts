import { httpExchange, keepAliveAgents } from './http-exchange';

/** A payment's state at the gateway. */
export type GatewayStatus = 'pending' | 'approved' | 'declined' | 'refunded';

/** What the gateway reports about one payment (its status query). */
export interface GatewayPaymentView {
  id: string;
  orderId: string;
  amount: number;
  currency: string;
  status: GatewayStatus;
  /** What was charged; differs from `amount` only on a gateway fault. Null until approved. */
  chargedAmount: number | null;
  checkoutUrl: string;
}

/** The gateway could not be reached or answered 5xx: nothing is known to have happened. */
export class GatewayUnavailableError extends Error {
  readonly code = 'GATEWAY_UNAVAILABLE';
}

/** The gateway refused the call (4xx): `status` and the gateway's `code`. */
export class GatewayRefusedError extends Error {
  constructor(
    readonly status: number,
    readonly gatewayCode: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * How Dealrush talks to a payment gateway. Every call is idempotent at the gateway: creating a
 * payment is keyed by our payment id, a refund of a refunded payment changes nothing, so a call
 * retried after a timeout never charges or refunds twice.
 */
export interface PaymentProvider {
  readonly name: string;
  /**
   * Creates (or finds) payment `paymentId` for `amount` minor units of `currency`. The gateway
   * sends its outcome to `webhookUrl`; the card page sends the shopper back to `returnUrl`.
   * `publicOrigin`: the origin the shopper reached us at (the in-process gateway's card page is there).
   * @throws GatewayUnavailableError, GatewayRefusedError
   */
  createPayment(payment: { paymentId: string; orderId: string; amount: number; currency: string; webhookUrl: string; returnUrl: string | null; publicOrigin: string | null }): Promise<{ checkoutUrl: string }>;
  /** The payment's state at the gateway, or null if the gateway has never heard of it. */
  getPayment(paymentId: string): Promise<GatewayPaymentView | null>;
  /** Refunds an approved payment (idempotent). */
  refund(paymentId: string): Promise<GatewayPaymentView>;
}

/**
 * The gateway's HTTP protocol (the bundled mock's, `src/payments/gateway`), at `baseUrl`.
 * `localGateway`: the gateway is the in-process mock, whose card page is on this server, so a
 * `checkoutUrl` is given the shopper's own origin.
 */
export class HttpGatewayProvider implements PaymentProvider {
  readonly name = 'mock-gateway';

  constructor(
    private readonly baseUrl: () => string,
    private readonly options: { timeoutMs?: number; localGateway?: boolean } = {},
  ) {}

  async createPayment(p: Parameters<PaymentProvider['createPayment']>[0]): Promise<{ checkoutUrl: string }> {
    const body = { id: p.paymentId, orderId: p.orderId, amount: p.amount, currency: p.currency, webhookUrl: p.webhookUrl, ...(p.returnUrl ? { returnUrl: p.returnUrl } : {}) };
    const view = (await this.call('POST', '/v1/payments', body))!;
    let checkoutUrl = view.checkoutUrl;
    if (this.options.localGateway && p.publicOrigin) {
      const url = new URL(checkoutUrl);
      checkoutUrl = `${p.publicOrigin}${url.pathname}${url.search}`;
    }
    return { checkoutUrl };
  }

  async getPayment(paymentId: string): Promise<GatewayPaymentView | null> {
    return this.call('GET', `/v1/payments/${encodeURIComponent(paymentId)}`, undefined, true);
  }

  async refund(paymentId: string): Promise<GatewayPaymentView> {
    return (await this.call('POST', `/v1/payments/${encodeURIComponent(paymentId)}/refund`, {}))!;
  }

  private async call(method: string, path: string, body: unknown, nullOn404 = false): Promise<GatewayPaymentView | null> {
    let res: { status: number; text: string };
    try {
      res = await httpExchange(agents, method, new URL(`${this.baseUrl()}${path}`), { body: body === undefined ? undefined : JSON.stringify(body), timeoutMs: this.options.timeoutMs ?? 10_000 });
    } catch (error) {
      throw new GatewayUnavailableError(`the payment gateway did not answer ${method} ${path}: ${(error as Error).message}`);
    }
    const text = res.text;
    if (res.status === 404 && nullOn404) return null;
    if (res.status >= 500) throw new GatewayUnavailableError(`the payment gateway answered ${res.status} to ${method} ${path}`);
    let json: any = null;
    try {
      json = JSON.parse(text);
    } catch {
      throw new GatewayUnavailableError(`the payment gateway answered ${method} ${path} with something that is not JSON`);
    }
    if (res.status >= 400) throw new GatewayRefusedError(res.status, json?.error?.code ?? 'refused', json?.error?.message ?? `the gateway refused ${method} ${path}`);
    return json as GatewayPaymentView;
  }
}

/**
 * Kept-alive connections to the gateway (no cap on sockets: a checkout rush asks at once, and each
 * answer may take the gateway's own time).
 */
const agents = keepAliveAgents({ idleMs: 4000 });
