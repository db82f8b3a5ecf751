import { connect, type Socket } from 'node:net';
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
  /**
   * The HTTP client: `undici` (default: a keep-alive Pool) or `lean` ({@link runLeanLoad}: plain
   * HTTP/1.1 over `net` sockets, one request in flight per connection as with undici, a fraction
   * of its CPU per request). Same requests, same closed loop, same result; for a load generator
   * that shares the machine's cores with the server it measures.
   */
  client?: 'undici' | 'lean';
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
  if (options.client === 'lean') return runLeanLoad(options);
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

/** Results of one load, gathered the same way by both clients. */
class Recorder {
  readonly latencies: Float64Array;
  readonly createdFlags: Uint8Array;
  readonly outcomes: Record<string, number> = {};
  readonly createdPerSecond: number[] = [];
  done = 0;
  created = 0;
  lastAnswerAt = 0;
  readonly start = process.hrtime.bigint();

  constructor(maxRequests: number) {
    this.latencies = new Float64Array(maxRequests);
    this.createdFlags = new Uint8Array(maxRequests);
  }

  msSinceStart(): number {
    return Number(process.hrtime.bigint() - this.start) / 1e6;
  }

  record(index: number, t0: bigint, outcome: string): void {
    const now = process.hrtime.bigint();
    this.latencies[index] = Number(now - t0) / 1e6;
    this.lastAnswerAt = Number(now - this.start) / 1e6;
    this.done += 1;
    this.outcomes[outcome] = (this.outcomes[outcome] ?? 0) + 1;
    if (outcome === '201') {
      this.created += 1;
      this.createdFlags[index] = 1;
      const second = Math.floor(this.lastAnswerAt / 1000);
      while (this.createdPerSecond.length <= second) this.createdPerSecond.push(0);
      this.createdPerSecond[second] += 1;
    }
  }

  result(issued: number, stoppedBy: string): LoadResult {
    const all = this.latencies.subarray(0, issued);
    const ok: number[] = [];
    for (let i = 0; i < issued; i++) if (this.createdFlags[i]) ok.push(this.latencies[i]);
    return { requests: this.done, created: this.created, outcomes: this.outcomes, elapsedMs: this.lastAnswerAt, stoppedBy, latency: summarize(all), latencyCreated: summarize(ok), createdPerSecond: this.createdPerSecond };
  }
}

const CRLF_CRLF = Buffer.from('\r\n\r\n');

/**
 * One answer read off an HTTP/1.1 byte stream: the status, the body as text, and how many bytes
 * it took; null while incomplete. Reads `Content-Length` bodies and chunked ones.
 * @throws Error on a malformed status line or framing.
 */
export function parseHttpResponse(buffer: Buffer): { status: number; body: string; length: number } | null {
  const headEnd = buffer.indexOf(CRLF_CRLF);
  if (headEnd < 0) return null;
  const head = buffer.toString('latin1', 0, headEnd);
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!match) throw new Error(`malformed status line: ${JSON.stringify(head.slice(0, 40))}`);
  const status = Number(match[1]);
  const bodyStart = headEnd + 4;
  const lengthHeader = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (lengthHeader) {
    const end = bodyStart + Number(lengthHeader[1]);
    if (buffer.length < end) return null;
    return { status, body: buffer.toString('utf8', bodyStart, end), length: end };
  }
  if (/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
    const parts: Buffer[] = [];
    let at = bodyStart;
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', at);
      if (lineEnd < 0) return null;
      const size = Number.parseInt(buffer.toString('latin1', at, lineEnd), 16);
      if (!Number.isFinite(size)) throw new Error('malformed chunk size');
      const dataStart = lineEnd + 2;
      if (size === 0) {
        const trailerEnd = buffer.indexOf(CRLF_CRLF, lineEnd);
        if (trailerEnd >= 0) return { status, body: Buffer.concat(parts).toString('utf8'), length: trailerEnd + 4 };
        if (buffer.length >= dataStart + 2 && buffer[dataStart] === 13 && buffer[dataStart + 1] === 10) return { status, body: Buffer.concat(parts).toString('utf8'), length: dataStart + 2 };
        return null;
      }
      if (buffer.length < dataStart + size + 2) return null;
      parts.push(buffer.subarray(dataStart, dataStart + size));
      at = dataStart + size + 2;
    }
  }
  // No framing: 204/304 and 1xx have no body.
  return { status, body: '', length: bodyStart };
}

/**
 * {@link runLoad} with a lean HTTP/1.1 client: `connections` keep-alive `net` sockets, each
 * writing its next request (method, path, Host, the request's headers, Content-Length) when the
 * previous answer has been read in full, so one request is in flight per connection as with the
 * undici Pool. Latency is from the write to the last byte of the answer. A connection that fails or
 * is closed mid-request records the error code as the outcome and reconnects; one that does not
 * answer within `requestTimeoutMs` is destroyed (outcome `TIMEOUT`).
 */
export async function runLeanLoad(options: LoadOptions): Promise<LoadResult> {
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const url = new URL(options.origin);
  const host = url.host;
  const port = Number(url.port || 80);
  const rec = new Recorder(options.maxRequests);
  const deadline = Date.now() + options.durationMs;
  let issued = 0;
  let stoppedBy = '';
  let open = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const requestBytes = (r: LoadRequest): string => {
    let text = `${r.method} ${r.path} HTTP/1.1\r\nhost: ${host}\r\n`;
    for (const name in r.headers) text += `${name}: ${r.headers[name]}\r\n`;
    const length = r.body === undefined ? 0 : Buffer.byteLength(r.body);
    if (r.body !== undefined || r.method === 'POST') text += `content-length: ${length}\r\n`;
    text += '\r\n';
    return r.body === undefined ? text : text + r.body;
  };

  interface Conn {
    socket: Socket | null;
    buffer: Buffer | null;
    index: number;
    t0: bigint;
    sentAt: number;
    closed: boolean;
  }
  const conns: Conn[] = [];

  const next = (c: Conn): void => {
    if (!stoppedBy && Date.now() >= deadline) stoppedBy = 'duration';
    if (!stoppedBy && issued >= options.maxRequests) stoppedBy = 'count';
    if (stoppedBy) return retire(c);
    c.index = issued++;
    const text = requestBytes(options.makeRequest(c.index));
    c.t0 = process.hrtime.bigint();
    c.sentAt = Date.now();
    c.socket!.write(text);
  };
  const retire = (c: Conn): void => {
    if (c.closed) return;
    c.closed = true;
    c.index = -1;
    c.socket?.destroy();
    c.socket = null;
    if (--open === 0) finish();
  };
  const fail = (c: Conn, outcome: string): void => {
    if (c.index >= 0) {
      rec.record(c.index, c.t0, outcome);
      c.index = -1;
      if (!stoppedBy && options.stopOn?.(outcome)) stoppedBy = `stopOn:${outcome}`;
    }
    c.socket?.destroy();
    c.socket = null;
    c.buffer = null;
    if (stoppedBy || Date.now() >= deadline) return retire(c);
    setTimeout(() => dial(c), 10);
  };
  const onData = (c: Conn, chunk: Buffer): void => {
    c.buffer = c.buffer === null ? chunk : Buffer.concat([c.buffer, chunk]);
    let answer;
    try {
      answer = parseHttpResponse(c.buffer);
    } catch {
      return fail(c, 'HTTP_PARSE_ERROR');
    }
    if (answer === null) return;
    if (answer.length !== c.buffer.length) return fail(c, 'HTTP_PARSE_ERROR'); // bytes nobody asked for
    c.buffer = null;
    if (c.index < 0) return fail(c, 'HTTP_PARSE_ERROR');
    const outcome = outcomeOf(answer.status, answer.body);
    rec.record(c.index, c.t0, outcome);
    c.index = -1;
    if (!stoppedBy && options.stopOn?.(outcome)) stoppedBy = `stopOn:${outcome}`;
    next(c);
  };
  const dial = (c: Conn): void => {
    const socket = connect({ host: url.hostname, port, noDelay: true });
    c.socket = socket;
    socket.on('data', (chunk: Buffer) => c.socket === socket && onData(c, chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => c.socket === socket && fail(c, error.code ?? 'ERROR'));
    socket.on('close', () => c.socket === socket && fail(c, 'ECONNRESET'));
    socket.once('connect', () => c.socket === socket && next(c));
  };

  for (let i = 0; i < options.connections; i++) {
    const c: Conn = { socket: null, buffer: null, index: -1, t0: 0n, sentAt: 0, closed: false };
    conns.push(c);
    open += 1;
    dial(c);
  }
  const ticker = setInterval(() => options.onTick?.({ elapsedMs: rec.msSinceStart(), requests: rec.done, created: rec.created }), options.tickMs ?? 500);
  const watchdog = setInterval(() => {
    const now = Date.now();
    for (const c of conns) if (c.index >= 0 && now - c.sentAt > timeoutMs) fail(c, 'TIMEOUT');
  }, Math.min(1000, timeoutMs));
  const stopTimer = setTimeout(() => (stoppedBy ||= 'duration'), options.durationMs);
  try {
    await finished;
  } finally {
    clearInterval(ticker);
    clearInterval(watchdog);
    clearTimeout(stopTimer);
    for (const c of conns) c.socket?.destroy();
  }
  options.onTick?.({ elapsedMs: rec.lastAnswerAt, requests: rec.done, created: rec.created });
  return rec.result(issued, stoppedBy || 'duration');
}
