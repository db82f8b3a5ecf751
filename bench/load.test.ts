import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseHttpResponse, percentile, runLoad, summarize } from './load';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100

  it('gives the value with p% of the values at or below it', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 90)).toBe(90);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
  });

  it('rounds the rank up, never interpolates', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 51)).toBe(3);
    expect(percentile([10, 20, 30], 99)).toBe(30);
    expect(percentile([1.5, 2.5], 50)).toBe(1.5);
  });

  it('gives the smallest value at p = 0 and the only value of one sample', () => {
    expect(percentile(hundred, 0)).toBe(1);
    expect(percentile([7], 0)).toBe(7);
    expect(percentile([7], 99)).toBe(7);
  });

  it('reads typed arrays', () => {
    expect(percentile(Float64Array.from([0.1, 0.2, 0.3, 0.4, 0.5]), 90)).toBe(0.5);
  });

  it('is NaN for no values and rejects p outside 0..100', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile(hundred, 101)).toThrow(RangeError);
    expect(() => percentile(hundred, -1)).toThrow(RangeError);
    expect(() => percentile(hundred, NaN)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  it('sorts numerically (not as strings) before taking percentiles', () => {
    const s = summarize([100, 9, 20, 3, 1000]);
    expect(s).toEqual({ count: 5, p50: 20, p90: 1000, p99: 1000, max: 1000, mean: 226.4 });
  });

  it('leaves its input alone', () => {
    const input = [3, 1, 2];
    summarize(input);
    expect(input).toEqual([3, 1, 2]);
  });

  it('is empty-safe', () => {
    const s = summarize([]);
    expect(s.count).toBe(0);
    expect(s.p99).toBeNaN();
    expect(s.max).toBeNaN();
  });
});

describe('parseHttpResponse', () => {
  const head = 'HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n';
  it('reads a Content-Length body, and waits while it is incomplete', () => {
    const full = Buffer.from(`${head}Content-Length: 11\r\n\r\n{"seq":123}`);
    expect(parseHttpResponse(full)).toEqual({ status: 201, body: '{"seq":123}', length: full.length });
    expect(parseHttpResponse(full.subarray(0, full.length - 1))).toBeNull();
    expect(parseHttpResponse(full.subarray(0, 20))).toBeNull();
  });

  it('reads a chunked body and a bodiless answer', () => {
    const chunked = Buffer.from('HTTP/1.1 409 Conflict\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"cod\r\n9\r\ne":"X"}  \r\n0\r\n\r\n');
    expect(parseHttpResponse(chunked)).toEqual({ status: 409, body: '{"code":"X"}  ', length: chunked.length });
    expect(parseHttpResponse(chunked.subarray(0, chunked.length - 2))).toBeNull();
    const empty = Buffer.from('HTTP/1.1 204 No Content\r\n\r\n');
    expect(parseHttpResponse(empty)).toEqual({ status: 204, body: '', length: empty.length });
  });

  it('refuses what is not HTTP', () => {
    expect(() => parseHttpResponse(Buffer.from('SSH-2.0-x\r\n\r\n'))).toThrow();
  });
});

describe('runLoad with the lean client', () => {
  it('drives a real HTTP server over loopback: counts, outcomes and per-request headers', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(String(req.headers['x-n']));
      req.resume();
      req.on('end', () => {
        const n = Number(req.headers['x-n']);
        if (n % 10 === 9) {
          res.writeHead(409, { 'content-type': 'application/problem+json' }).end(JSON.stringify({ code: 'SOLD_OUT' }));
        } else res.writeHead(201, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const result = await runLoad({ client: 'lean', origin: `http://127.0.0.1:${port}`, connections: 8, durationMs: 10_000, maxRequests: 200, makeRequest: (i) => ({ method: 'POST', path: '/x', headers: { 'x-n': String(i) } }) });
      expect(result.requests).toBe(200);
      expect(result.outcomes).toEqual({ '201': 180, SOLD_OUT: 20 });
      expect(result.created).toBe(180);
      expect(result.stoppedBy).toBe('count');
      expect(new Set(seen).size).toBe(200);
      expect(result.latency.count).toBe(200);
    } finally {
      server.close();
    }
  });
});
