import { RateMeter, roundRate } from './rate-meter';

describe('RateMeter', () => {
  it('gives 0 on the first reading, then the growth per second', () => {
    const meter = new RateMeter();
    expect(meter.rate('m', 100, 1_000)).toBe(0);
    expect(meter.rate('m', 350, 2_000)).toBe(250);
    expect(meter.rate('m', 350, 2_500)).toBe(0);
    expect(meter.rate('m', 400, 3_000)).toBe(100);
  });

  it('keeps keys apart and never goes negative', () => {
    const meter = new RateMeter();
    meter.rate('a', 10, 0);
    meter.rate('b', 0, 0);
    expect(meter.rate('b', 5, 500)).toBe(10);
    expect(meter.rate('a', 4, 1000)).toBe(0); // went down: a restart
    expect(meter.rate('a', 6, 1000)).toBe(0); // same instant
  });

  it('forgets keys that are not retained', () => {
    const meter = new RateMeter();
    meter.rate('a', 1, 0);
    meter.rate('b', 1, 0);
    meter.retain(new Set(['b']));
    expect(meter.rate('a', 11, 1000)).toBe(0); // a first reading again
    expect(meter.rate('b', 11, 1000)).toBe(10);
  });

  it('rounds rates to two decimals', () => {
    expect(roundRate(1 / 3)).toBe(0.33);
    expect(roundRate(2)).toBe(2);
  });
});
