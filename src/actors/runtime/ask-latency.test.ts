import { ASK_LATENCY_BOUNDS, AskLatencyHistogram } from './ask-latency';

/** The cumulative `_bucket` counts of one series, by bound. */
function buckets(h: AskLatencyHistogram, kind: string, route: string): Map<number | string, number> {
  const out = new Map<number | string, number>();
  for (const v of h.values('x')) if (v.metricName === 'x_bucket' && v.labels.kind === kind && v.labels.transport === route) out.set(v.labels.le, v.value);
  return out;
}

describe('AskLatencyHistogram', () => {
  it('has rising log-scale bounds from 50 µs past 10 s', () => {
    expect(ASK_LATENCY_BOUNDS[0]).toBe(0.00005);
    expect(ASK_LATENCY_BOUNDS.at(-1)).toBeGreaterThan(10);
    for (let i = 1; i < ASK_LATENCY_BOUNDS.length; i++) expect(ASK_LATENCY_BOUNDS[i] / ASK_LATENCY_BOUNDS[i - 1]).toBeCloseTo(Math.SQRT2, 2);
  });

  it('puts every sample in the first bucket whose bound is at or above it', () => {
    const samplesMs = [0, 0.01, 0.05, 0.0501, 0.3, 1, 4.2, 19.99, 20, 150, 9_999, 60_000];
    for (const ms of samplesMs) {
      const h = new AskLatencyHistogram();
      h.record('deal', 'local', ms);
      const b = buckets(h, 'deal', 'local');
      const expected = ASK_LATENCY_BOUNDS.find((le) => ms / 1000 <= le);
      for (const le of ASK_LATENCY_BOUNDS) expect([ms, le, b.get(le)]).toEqual([ms, le, expected !== undefined && le >= expected ? 1 : 0]);
      expect(b.get('+Inf')).toBe(1);
    }
  });

  it('keeps series apart by kind and route, with sum (s) and count', () => {
    const h = new AskLatencyHistogram();
    h.record('deal', 'redis', 2);
    h.record('deal', 'redis', 4);
    h.record('cart', 'redis', 1);
    h.record('deal', 'local', 1);
    const values = h.values('dealrush_actor_ask_seconds');
    const pick = (name: string, kind: string, route: string) => values.find((v) => v.metricName === name && v.labels.kind === kind && v.labels.transport === route)?.value;
    expect(pick('dealrush_actor_ask_seconds_count', 'deal', 'redis')).toBe(2);
    expect(pick('dealrush_actor_ask_seconds_sum', 'deal', 'redis')).toBeCloseTo(0.006, 9);
    expect(pick('dealrush_actor_ask_seconds_count', 'cart', 'redis')).toBe(1);
    expect(pick('dealrush_actor_ask_seconds_count', 'deal', 'local')).toBe(1);
    expect(pick('dealrush_actor_ask_seconds_count', 'cart', 'local')).toBeUndefined();
  });
});
