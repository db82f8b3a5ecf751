import { percentile, summarize } from './load';

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
