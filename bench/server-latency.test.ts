import { histogramQuantile, mergeHistograms, parseRouteHistograms } from './server-latency';

// Two status codes of one route, and another route, as a node's /metrics writes them.
const NODE = `# HELP dealrush_http_request_duration_seconds HTTP request latency by route and status
# TYPE dealrush_http_request_duration_seconds histogram
dealrush_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/api/cart/items",status_code="201"} 50
dealrush_http_request_duration_seconds_bucket{le="1",method="POST",route="/api/cart/items",status_code="201"} 90
dealrush_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/api/cart/items",status_code="201"} 100
dealrush_http_request_duration_seconds_bucket{le="0.1",method="POST",route="/api/cart/items",status_code="409"} 0
dealrush_http_request_duration_seconds_bucket{le="1",method="POST",route="/api/cart/items",status_code="409"} 0
dealrush_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/api/cart/items",status_code="409"} 100
dealrush_http_request_duration_seconds_sum{method="POST",route="/api/cart/items",status_code="201"} 30
dealrush_http_request_duration_seconds_bucket{le="0.1",method="GET",route="/api/deals/:dealId/queue/me",status_code="200"} 4
dealrush_http_request_duration_seconds_bucket{le="1",method="GET",route="/api/deals/:dealId/queue/me",status_code="200"} 4
dealrush_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/api/deals/:dealId/queue/me",status_code="200"} 4
dealrush_holds_total{deal="d1"} 100
`;

describe('server-side latency from /metrics', () => {
  it('sums a route over its status codes and interpolates quantiles inside a bucket', () => {
    const routes = parseRouteHistograms(NODE);
    const holds = routes.get('POST /api/cart/items')!;
    expect(holds).toEqual({ bounds: [0.1, 1, Infinity], cumulative: [50, 90, 200] });
    // 200 requests: rank 40 lies in the first bucket (0-100 ms, 50 requests): 80 ms.
    expect(histogramQuantile(holds, 0.2)).toBe('80');
    // Rank 70: the second bucket (100-1000 ms) holds ranks 51-90; 20 of its 40 in: 550 ms.
    expect(histogramQuantile(holds, 0.35)).toBe('550');
    // Rank 198 is past the last finite bound: only a lower bound can be given.
    expect(histogramQuantile(holds, 0.99)).toBe('> 1000');
    expect(routes.get('GET /api/deals/:dealId/queue/me')!.cumulative).toEqual([4, 4, 4]);
    expect(routes.has('holds_total')).toBe(false);
  });

  it('merges the nodes, and has nothing to say about an empty histogram', () => {
    const a = parseRouteHistograms(NODE).get('POST /api/cart/items')!;
    expect(mergeHistograms([a, a])).toEqual({ bounds: [0.1, 1, Infinity], cumulative: [100, 180, 400] });
    expect(mergeHistograms([])).toBeNull();
    expect(histogramQuantile({ bounds: [1, Infinity], cumulative: [0, 0] }, 0.5)).toBe('n/a');
  });
});
