/**
 * How Dealrush talks to a payment gateway. The first implementation approves every payment; the
 * real gateway protocol (hosted card page, signed webhooks) plugs in behind the same interface.
 */
export interface PaymentProvider {
  readonly name: string;
  /**
   * Asks the gateway to charge `amount` (minor units) of `currency` for `orderId`.
   * Resolves with the URL where the shopper completes the payment.
   */
  createPayment(payment: { paymentId: string; orderId: string; amount: number; currency: string }): Promise<{ checkoutUrl: string }>;
}

/** What a provider reports back: the order actor is told through this callback. */
export type PaymentOutcomeHandler = (outcome: { paymentId: string; orderId: string; approved: boolean }) => Promise<void>;

/**
 * Approves every payment a moment after it is created (no card form, no network). The shopper
 * is sent to their order page, where the `paid` status arrives live.
 */
export class AutoApprovePaymentProvider implements PaymentProvider {
  readonly name = 'auto-approve';

  constructor(
    private readonly report: PaymentOutcomeHandler,
    private readonly delayMs = 50,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  async createPayment(payment: { paymentId: string; orderId: string }): Promise<{ checkoutUrl: string }> {
    setTimeout(() => {
      this.report({ paymentId: payment.paymentId, orderId: payment.orderId, approved: true }).catch(this.onError);
    }, this.delayMs).unref();
    return { checkoutUrl: `/orders/${payment.orderId}?payment=${payment.paymentId}` };
  }
}
