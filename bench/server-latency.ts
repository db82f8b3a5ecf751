import { request } from 'undici';

/** One route's request-latency histogram as the nodes export it: cumulative counts per upper bound (s). */
export interface RouteHistogram {
  /** Upper bounds in seconds, ascending, `Infinity` last. */
  bounds: number[];
  /** Requests at or below each bound (cumulative, as in the text format). */
  cumulative: number[];
}

/** Server-side latency of one route over the nodes: requests and p50/p99 in ms (`> max` when beyond the last finite bound). */
export interface ServerLatency {
  count: number;
  p50: string;
  p99: string;
}

const METRIC = 'dealrush_http_request_duration_seconds_bucket';

/** The routes a rehearsal shopper calls, as the nodes label them. */
export const SERVER_ROUTES = ['POST /api/deals/:dealId/queue', 'GET /api/deals/:dealId/queue/me', 'POST /api/cart/items', 'POST /api/orders', 'POST /api/orders/:orderId/payment'];

/**
 * The `dealrush_http_request_duration_seconds` histogram of one `/metrics` text (Prometheus text
 * format), summed over status codes: `"METHOD route"` -> histogram.
 */
export function parseRouteHistograms(text: string): Map<string, RouteHistogram> {
  const sums = new Map<string, Map<number, number>>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${METRIC}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels = Object.fromEntries([...line.slice(METRIC.length + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    const value = Number(line.slice(close + 1).trim());
    if (!labels.method || !labels.route || labels.le === undefined || !Number.isFinite(value)) continue;
    const key = `${labels.method} ${labels.route}`;
    const bound = labels.le === '+Inf' ? Infinity : Number(labels.le);
    let byBound = sums.get(key);
    if (!byBound) sums.set(key, (byBound = new Map()));
    byBound.set(bound, (byBound.get(bound) ?? 0) + value);
  }
  const out = new Map<string, RouteHistogram>();
  for (const [key, byBound] of sums) {
    const bounds = [...byBound.keys()].sort((a, b) => a - b);
    out.set(key, { bounds, cumulative: bounds.map((b) => byBound.get(b)!) });
  }
  return out;
}

/** Adds histograms of the same bounds (one per node) into one. */
export function mergeHistograms(histograms: RouteHistogram[]): RouteHistogram | null {
  if (histograms.length === 0) return null;
  const bounds = histograms[0].bounds;
  return { bounds, cumulative: bounds.map((_, i) => histograms.reduce((n, h) => n + (h.cumulative[i] ?? 0), 0)) };
}

/**
 * The `q` quantile of a histogram in ms, interpolated linearly within its bucket (Prometheus'
 * `histogram_quantile` rule, with the first bucket starting at 0). Beyond the last finite bound it
 * can only say `> bound`.
 */
export function histogramQuantile(h: RouteHistogram, q: number): string {
  const total = h.cumulative[h.cumulative.length - 1] ?? 0;
  if (total === 0) return 'n/a';
  const rank = q * total;
  for (let i = 0; i < h.bounds.length; i++) {
    if (h.cumulative[i] < rank) continue;
    const upper = h.bounds[i];
    const lower = i === 0 ? 0 : h.bounds[i - 1];
    if (upper === Infinity) return `> ${Math.round(lower * 1000)}`;
    const below = i === 0 ? 0 : h.cumulative[i - 1];
    const inBucket = h.cumulative[i] - below;
    const at = inBucket === 0 ? upper : lower + ((upper - lower) * (rank - below)) / inBucket;
    return String(Math.round(at * 1000));
  }
  return 'n/a';
}

/**
 * Server-side latency of `routes` over every node in `origins`, from their `/metrics`: what the
 * handlers took, against which the shoppers' own timings show the time spent in the load
 * generator's pools and the kernel's queues. Nodes that do not answer within `timeoutMs` are left
 * out (and named in `missing`).
 */
export async function serverLatency(origins: string[], routes: string[], timeoutMs = 10_000): Promise<{ routes: Record<string, ServerLatency>; missing: string[] }> {
  const missing: string[] = [];
  const perNode = await Promise.all(
    origins.map(async (origin) => {
      try {
        const res = await request(`${origin}/metrics`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        return parseRouteHistograms(await res.body.text());
      } catch {
        missing.push(origin);
        return null;
      }
    }),
  );
  const out: Record<string, ServerLatency> = {};
  for (const route of routes) {
    const merged = mergeHistograms(perNode.flatMap((m) => (m?.get(route) ? [m.get(route)!] : [])));
    if (!merged) continue;
    out[route] = { count: merged.cumulative[merged.cumulative.length - 1], p50: histogramQuantile(merged, 0.5), p99: histogramQuantile(merged, 0.99) };
  }
  return { routes: out, missing };
}
