/**
 * Expected business outcomes are values, not exceptions (Vendure's `ErrorResult`): an actor
 * replies `{ ok: false, error: { code, detail } }` with a stable code that the HTTP layer maps to a
 * status (CONTRACT.md) and the socket layer puts in an ack.
 */
export type BusinessErrorCode =
  | 'NOT_FOUND'
  | 'FORBIDDEN'
  | 'VALIDATION_FAILED'
  | 'DEAL_NOT_OPEN'
  | 'SOLD_OUT'
  | 'LIMIT_EXCEEDED'
  | 'HOLD_EXPIRED'
  | 'INVALID_STATE'
  | 'NOT_ADMITTED';

export interface BusinessError {
  code: BusinessErrorCode;
  detail: string;
}

export type Result<T> = { ok: true; value: T } | { ok: false; error: BusinessError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(code: BusinessErrorCode, detail: string): Result<T> => ({ ok: false, error: { code, detail } });
