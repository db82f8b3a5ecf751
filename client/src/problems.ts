/** Turns failures into sentences a shopper can act on. */
import { ApiError } from './api';

const MESSAGES: Record<string, string> = {
  SOLD_OUT: 'Sold out — every unit is taken.',
  LIMIT_EXCEEDED: "You've reached the per-customer limit for this deal.",
  DEAL_NOT_OPEN: "This deal isn't open right now.",
  NOT_ADMITTED: 'This sale has a waiting room: join it and wait for your turn.',
  HOLD_EXPIRED: 'Your reservation expired before checkout. Please try again.',
  INVALID_STATE: 'That is no longer possible for this order.',
  EMAIL_TAKEN: 'An account with this email already exists.',
  NOT_FOUND: "We couldn't find that.",
  FORBIDDEN: "You're not allowed to do that.",
  UNAUTHORIZED: 'Please log in again.',
  IDEMPOTENCY_KEY_REUSED: 'That request was already sent with different details. Please try again.',
  NETWORK_ERROR: "Can't reach Dealrush. Check your connection and try again.",
};

/**
 * A short sentence for an error from {@link api} (or anything thrown). Validation problems keep
 * the server's detail, which names the field; waits include the `Retry-After` seconds.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof ApiError)) return 'Something went wrong. Please try again.';
  const wait = error.retryAfter !== null ? ` Try again in ${error.retryAfter} s.` : ' Try again shortly.';
  switch (error.code) {
    case 'VALIDATION_FAILED':
      return error.detail || 'Please check the form.';
    case 'RATE_LIMITED':
      return `Too many requests.${wait}`;
    case 'UNAVAILABLE':
      return `Dealrush is very busy right now.${wait}`;
    case 'ACCOUNT_LOCKED':
      return `Too many failed attempts: this account is locked for now.${wait}`;
  }
  if (MESSAGES[error.code]) return MESSAGES[error.code]!;
  if (error.status >= 500) return 'Dealrush had a problem. Please try again in a moment.';
  return error.detail;
}
