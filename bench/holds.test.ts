import { shoppersAndLimit } from './holds';

describe('shoppersAndLimit', () => {
  it('defaults to units / 5 shoppers with a limit of 10', () => {
    expect(shoppersAndLimit(100_000, 200_000, null)).toEqual({ shoppers: 20_000, perUserLimit: 10 });
  });

  it('raises the limit so that it never binds for fewer shoppers', () => {
    expect(shoppersAndLimit(100_000, 200_000, 200)).toEqual({ shoppers: 200, perUserLimit: 1000 });
    expect(shoppersAndLimit(100_000, 200_000, 30_000)).toEqual({ shoppers: 30_000, perUserLimit: 10 });
    expect(shoppersAndLimit(100_000, 200_000, 3_000)).toEqual({ shoppers: 3_000, perUserLimit: 67 });
  });

  it('keeps the limit within the stock and refuses too few shoppers', () => {
    expect(shoppersAndLimit(100, 200, 1)).toEqual({ shoppers: 1, perUserLimit: 100 });
    expect(() => shoppersAndLimit(100_000, 200_000, 199)).toThrow(RangeError);
  });
});
