/**
 * Latency of actor asks, from the moment the message is sent to the moment its reply (or its
 * failure) is back at the caller: the mailbox round trip, with the queueing in the mailbox and
 * the commit the actor makes before it answers (a deal's group commit). Kept per actor kind and
 * per route (`in-process`, `local`, `redis`) as a histogram with fixed log-scale buckets: one
 * counter increment per message, no allocation.
 */

/** Upper bounds (seconds) of the buckets: 50 µs × 2^(i/2), i = 0..37, up to about 26 s. */
export const ASK_LATENCY_BOUNDS: readonly number[] = Array.from({ length: 38 }, (_, i) => Number((0.00005 * 2 ** (i / 2)).toPrecision(4)));

const FIRST_BOUND_MS = ASK_LATENCY_BOUNDS[0] * 1000;

/** One series: counts per bucket (not cumulative; the last slot is above every bound), sum (s), count. */
interface Series {
  kind: string;
  route: string;
  counts: Float64Array;
  sum: number;
  count: number;
}

/** A sample in prom-client's exposition shape (what a registered metric's `get()` returns). */
export interface ExpositionValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * The ask-latency histograms of one node. `record` is on the hot path (every ask); `values` is
 * read when `/metrics` is scraped.
 */
export class AskLatencyHistogram {
  /** route → kind → series. */
  private readonly byRoute = new Map<string, Map<string, Series>>();
  private readonly series: Series[] = [];

  /**
   * Adds one ask that took `ms` milliseconds (send to reply) to `kind`'s series on `route`.
   * Bucket `i` holds samples in (bound[i-1], bound[i]].
   */
  record(kind: string, route: string, ms: number): void {
    let kinds = this.byRoute.get(route);
    if (kinds === undefined) this.byRoute.set(route, (kinds = new Map()));
    let s = kinds.get(kind);
    if (s === undefined) {
      s = { kind, route, counts: new Float64Array(ASK_LATENCY_BOUNDS.length + 1), sum: 0, count: 0 };
      kinds.set(kind, s);
      this.series.push(s);
    }
    let i = ms <= FIRST_BOUND_MS ? 0 : Math.ceil(2 * Math.log2(ms / FIRST_BOUND_MS) - 1e-9);
    if (i > ASK_LATENCY_BOUNDS.length) i = ASK_LATENCY_BOUNDS.length;
    // Rounded bounds: step to the exact bucket (at most one step either way).
    if (i < ASK_LATENCY_BOUNDS.length && ms > ASK_LATENCY_BOUNDS[i] * 1000) i += 1;
    else if (i > 0 && ms <= ASK_LATENCY_BOUNDS[i - 1] * 1000) i -= 1;
    s.counts[i] += 1;
    s.sum += ms / 1000;
    s.count += 1;
  }

  /**
   * The histograms as Prometheus samples of `name` (`_bucket` cumulative with `le`, `_sum` in
   * seconds, `_count`), labelled `kind` and `transport` (the route).
   */
  values(name: string): ExpositionValue[] {
    const out: ExpositionValue[] = [];
    for (const s of this.series) {
      const labels = { kind: s.kind, transport: s.route };
      let cumulative = 0;
      for (let i = 0; i < ASK_LATENCY_BOUNDS.length; i++) {
        cumulative += s.counts[i];
        out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: ASK_LATENCY_BOUNDS[i] }, value: cumulative });
      }
      out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: s.count });
      out.push({ metricName: `${name}_sum`, labels, value: s.sum });
      out.push({ metricName: `${name}_count`, labels, value: s.count });
    }
    return out;
  }
}
