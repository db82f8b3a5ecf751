import type { BusinessError, Result } from '../actors/result';

/** The contract's stable error codes and their HTTP statuses (CONTRACT.md, Conventions). */
export const problemStatus = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_ADMITTED: 403,
  NOT_FOUND: 404,
  EMAIL_TAKEN: 409,
  DEAL_NOT_OPEN: 409,
  SOLD_OUT: 409,
  LIMIT_EXCEEDED: 409,
  HOLD_EXPIRED: 409,
  INVALID_STATE: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  ACCOUNT_LOCKED: 423,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
} as const;

export type ProblemCode = keyof typeof problemStatus;

const titles: Record<ProblemCode, string> = {
  VALIDATION_FAILED: 'The request is not valid',
  UNAUTHORIZED: 'Authentication is required',
  FORBIDDEN: 'Not allowed',
  NOT_ADMITTED: 'Not admitted from the waiting room',
  NOT_FOUND: 'Not found',
  EMAIL_TAKEN: 'The email is already registered',
  DEAL_NOT_OPEN: 'The deal is not open',
  SOLD_OUT: 'Sold out',
  LIMIT_EXCEEDED: 'Per-shopper limit reached',
  HOLD_EXPIRED: 'The hold has expired',
  INVALID_STATE: 'Not possible in the current state',
  PAYLOAD_TOO_LARGE: 'The request body is too large',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported content type',
  IDEMPOTENCY_KEY_REUSED: 'The idempotency key was used with another request',
  ACCOUNT_LOCKED: 'The account is locked',
  RATE_LIMITED: 'Too many requests',
  INTERNAL: 'Internal error',
  UNAVAILABLE: 'Temporarily unavailable',
};

/**
 * An error answered as RFC 9457 problem details with a stable `code`. Thrown by routes and
 * plugins; the error handler turns it into the response.
 */
export class HttpProblem extends Error {
  readonly status: number;
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly extra: { retryAfterSeconds?: number; errors?: Array<{ path: string; message: string }> } = {},
  ) {
    super(`${code}: ${detail}`);
    this.status = problemStatus[code];
  }

  /** The problem+json body (`type` is a stable URN per code). */
  body(requestId?: string): Record<string, unknown> {
    return {
      type: `urn:dealrush:problem:${this.code.toLowerCase().replace(/_/g, '-')}`,
      title: titles[this.code],
      status: this.status,
      detail: this.detail,
      code: this.code,
      ...(requestId ? { requestId } : {}),
      ...(this.extra.errors ? { errors: this.extra.errors } : {}),
    };
  }
}

/** The value of an actor's `Result`, or the matching {@link HttpProblem}. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw fromBusinessError(result.error);
}

export const fromBusinessError = (error: BusinessError): HttpProblem => new HttpProblem(error.code, error.detail);
