import { Pool } from 'undici';

/** One HTTP request of the load, built fresh for each attempt (so idempotency keys are new). */
export interface LoadRequest {
  method: 'POST' | 'GET';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** A progress sample, sent every `tickMs` while the load runs. */
export interface LoadTick {
  elapsedMs: number;
  requests: number;
  created: number;
}

export interface LoadOptions {
  /** `http://127.0.0.1:PORT` (loopback only). */
  origin: string;
  /** Concurrent keep-alive connections, one request in flight on each (closed loop). */
  connections: number;
  /** Wall-clock bound of the load (ms). */
  durationMs: number;
  /** Count bound: no more than this many requests are started. */
  maxRequests: number;
  /** Builds request number `index` (0-based). */
  makeRequest(index: number): LoadRequest;
  /** Answers whether an outcome ends the load early (e.g. `SOLD_OUT`); in-flight requests still finish. */
  stopOn?(outcome: string): boolean;
  /** Per-request bound (ms) on waiting for headers and body. Default 30 s. */
  requestTimeoutMs?: number;
  onTick?(tick: LoadTick): void;
  tickMs?: number;
}

/** Latency percentiles in milliseconds (nearest rank). */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  requests: number;
  /** Responses with status 201. */
  created: number;
  /** Count per outcome: `201`, a problem `code` (`SOLD_OUT`), `HTTP <status>` or a network error code. */
  outcomes: Record<string, number>;
  /** From the first request sent to the last answer received (ms). */
  elapsedMs: number;
  /** Why the load ended: `duration`, `count` or `stopOn:<outcome>`. */
  stoppedBy: string;
  /** Every answered or failed request. */
  latency: LatencySummary;
  /** 201 answers only. */
  latencyCreated: LatencySummary;
  /** 201s completed in each whole second since the start. */
  createdPerSecond: number[];
}

/**
 * The value at percentile `p` (0..100) of `sorted` (ascending), by the nearest-rank method
 * (the smallest value with at least p% of the values at or below it; NIST/Hyndman-Fan type 1).
 * Returns NaN for an empty input.
 * @example percentile([1, 2, 3, 4], 50) // 2
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be between 0 and 100 (got ${p})`);
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * n));
  return sorted[rank - 1];
}

/** Sorts a copy of `values` (ms) and summarizes it; NaN fields when empty. */
export function summarize(values: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const n = sorted.length;
  return { count: n, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: n ? sorted[n - 1] : NaN, mean: n ? sum / n : NaN };
}

/** The outcome label of an answer: `201`, the problem `code` when the body has one, else `HTTP <status>`. */
function outcomeOf(status: number, text: string): string {
  if (status === 201) return '201';
  try {
    const code = (JSON.parse(text) as { code?: unknown }).code;
    if (typeof code === 'string' && code) return code;
  } catch {
    // not JSON: fall through to the status
  }
  return `HTTP ${status}`;
}

/**
 * Drives `origin` with a closed loop: `connections` workers over one undici keep-alive Pool, each
 * sending its next request when the previous one is answered, until the duration passes, the
 * count bound is reached, or `stopOn` says so. Records every latency (hrtime, ms) and outcome.
 * Bounded in time even if the server hangs: each request times out after `requestTimeoutMs`.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const pool = new Pool(options.origin, {
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connectTimeout: 10_000,
  });
  const latencies = new Float64Array(options.maxRequests);
  const createdFlags = new Uint8Array(options.maxRequests);
  const outcomes: Record<string, number> = {};
  const createdPerSecond: number[] = [];
  let issued = 0;
  let done = 0;
  let created = 0;
  let stoppedBy = '';
  let lastAnswerAt = 0;
  const start = process.hrtime.bigint();
  const msSince = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
  const deadline = Date.now() + options.durationMs;

  const ticker = setInterval(() => options.onTick?.({ elapsedMs: msSince(start), requests: done, created }), options.tickMs ?? 500);
  const stopTimer = setTimeout(() => (stoppedBy ||= 'duration'), options.durationMs);

  const worker = async (): Promise<void> => {
    while (!stoppedBy) {
      if (Date.now() >= deadline) {
        stoppedBy = 'duration';
        break;
      }
      if (issued >= options.maxRequests) {
        stoppedBy = 'count';
        break;
      }
      const index = issued++;
      const { method, path, headers, body } = options.makeRequest(index);
      const t0 = process.hrtime.bigint();
      let outcome: string;
      try {
        const response = await pool.request({ method, path, headers, body });
        outcome = outcomeOf(response.statusCode, await response.body.text());
      } catch (error) {
        const e = error as { code?: string; name?: string };
        outcome = e.code ?? e.name ?? 'ERROR';
      }
      const now = process.hrtime.bigint();
      latencies[index] = Number(now - t0) / 1e6;
      lastAnswerAt = Number(now - start) / 1e6;
      done += 1;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (outcome === '201') {
        created += 1;
        createdFlags[index] = 1;
        const second = Math.floor(lastAnswerAt / 1000);
        while (createdPerSecond.length <= second) createdPerSecond.push(0);
        createdPerSecond[second] += 1;
      }
      if (!stoppedBy && options.stopOn?.(outcome)) stoppedBy = `stopOn:${outcome}`;
    }
  };

  try {
    await Promise.all(Array.from({ length: options.connections }, worker));
  } finally {
    clearInterval(ticker);
    clearTimeout(stopTimer);
    await pool.close();
  }
  options.onTick?.({ elapsedMs: lastAnswerAt, requests: done, created });

  const all = latencies.subarray(0, issued);
  const ok: number[] = [];
  for (let i = 0; i < issued; i++) if (createdFlags[i]) ok.push(latencies[i]);
  return { requests: done, created, outcomes, elapsedMs: lastAnswerAt, stoppedBy, latency: summarize(all), latencyCreated: summarize(ok), createdPerSecond };
}
