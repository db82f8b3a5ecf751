/**
 * A small fetch wrapper for the Dealrush HTTP API (CONTRACT.md): JSON in and out, the bearer token
 * when logged in, RFC 9457 problems turned into {@link ApiError}, one token refresh on a 401, and
 * an `Idempotency-Key` on the POSTs that require one.
 */
import { accessToken, expireSession, refreshToken, saveTokens } from './session';
import type { Problem, TokenPair } from './types';
import { randomUuid } from './uuid';

/** A failed call: the problem's HTTP status, stable `code` and human `detail`. */
export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    /** The problem's stable UPPER_SNAKE code, e.g. `SOLD_OUT`; `NETWORK_ERROR` when unreachable. */
    readonly code: string,
    /** What went wrong, for people. */
    readonly detail: string,
    /** Seconds from the `Retry-After` header (429, 423, 503), or null. */
    readonly retryAfter: number | null = null,
    /** A validation problem's fields: `path` like `body/price`, and what is wrong with it. */
    readonly errors: ReadonlyArray<{ path: string; message: string }> = [],
    /** The server's request id (`requestId`), to quote when reporting a problem. */
    readonly requestId: string | null = null,
  ) {
    super(detail);
    this.name = 'ApiError';
  }
}

/** Options of {@link api}. */
export interface ApiOptions {
  /** Defaults to POST when there is a body, GET otherwise. */
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** POSTs that CONTRACT.md says need an `Idempotency-Key`. */
const IDEMPOTENT_POSTS = [/^\/api\/cart\/items$/, /^\/api\/orders$/, /^\/api\/orders\/[^/]+\/payment$/];

/** Calls that must never trigger a token refresh (they are the session itself). */
const AUTH_PATHS = /^\/api\/auth\//;

/**
 * Calls the API and returns the parsed JSON answer (undefined for 204).
 * A 401 on a call made with a token refreshes the tokens once and retries with the same
 * idempotency key. Throws {@link ApiError} for a problem answer or when the server is unreachable.
 *
 * @example
 * const page = await api<Page<Deal>>('/api/deals?limit=100');
 * const { hold } = await api<{ hold: Hold }>('/api/cart/items', { body: { dealId, quantity: 1 } });
 */
export async function api<T>(path: string, options: ApiOptions = {}): Promise<T> {
  const method = options.method ?? (options.body === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = { Accept: 'application/json, application/problem+json', ...options.headers };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const route = path.split('?')[0]!;
  if (method === 'POST' && IDEMPOTENT_POSTS.some((re) => re.test(route))) {
    headers['Idempotency-Key'] ??= randomUuid();
  }
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);

  const send = (token: string | null) =>
    request(path, {
      method,
      body,
      signal: options.signal,
      headers: token ? { ...headers, Authorization: `Bearer ${token}` } : headers,
    });

  const token = accessToken();
  let response = await send(token);
  if (response.status === 401 && token && !AUTH_PATHS.test(route) && (await refreshSession(token))) {
    response = await send(accessToken());
  }
  return parse<T>(response);
}

let refreshing: Promise<boolean> | null = null;

/**
 * Rotates the token pair with `POST /api/auth/refresh`. Concurrent callers share one request:
 * refresh tokens are single-use and reusing one revokes the whole family. When `staleToken` is
 * given and the stored access token already differs (another call or tab refreshed meanwhile),
 * no request is made. Resolves true when a usable access token is stored; a refused refresh ends
 * the session ({@link expireSession}).
 */
export function refreshSession(staleToken?: string | null): Promise<boolean> {
  const current = accessToken();
  if (staleToken && current && current !== staleToken) return Promise.resolve(true);
  refreshing ??= rotate().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

async function rotate(): Promise<boolean> {
  const token = refreshToken();
  if (!token) {
    expireSession();
    return false;
  }
  let response: Response;
  try {
    response = await request('/api/auth/refresh', {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify({ refreshToken: token }),
    });
  } catch {
    return false; // unreachable: keep the session, a later call may succeed
  }
  if (response.ok) {
    saveTokens((await response.json()) as TokenPair);
    return true;
  }
  if (response.status >= 400 && response.status < 500 && response.status !== 429) expireSession();
  return false;
}

async function request(path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(path, init);
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'NETWORK_ERROR', "Can't reach Dealrush. Check your connection and try again.");
  }
}

async function parse<T>(response: Response): Promise<T> {
  if (response.status === 204) return undefined as T;
  const isJson = /json/i.test(response.headers.get('content-type') ?? '');
  const data: unknown = isJson ? await response.json().catch(() => null) : null;
  if (response.ok) {
    if (data === null) throw new ApiError(response.status, 'BAD_RESPONSE', 'The server sent an unexpected answer.');
    return data as T;
  }
  const problem = (data ?? {}) as Partial<Problem>;
  const retryAfter = Number.parseInt(response.headers.get('retry-after') ?? '', 10);
  throw new ApiError(
    response.status,
    typeof problem.code === 'string' ? problem.code : `HTTP_${response.status}`,
    problem.detail || problem.title || response.statusText || `Request failed (${response.status})`,
    Number.isFinite(retryAfter) ? retryAfter : null,
    Array.isArray(problem.errors) ? problem.errors : [],
    typeof problem.requestId === 'string' ? problem.requestId : null,
  );
}
