/**
 * The per-second rate of counters that only grow (messages handled, paid orders), measured
 * between two readings, by key. The first reading of a key gives 0; a counter that went down
 * (a restart, a refund lowering a paid count) gives 0 rather than a negative rate.
 *
 * @example
 * const meter = new RateMeter();
 * meter.rate('messages', 100, 1_000); // 0: first reading
 * meter.rate('messages', 350, 2_000); // 250 per second
 */
export class RateMeter {
  private readonly last = new Map<string, { value: number; at: number }>();

  /** Records `value` at `at` (epoch ms) and returns the rate per second since the last reading. */
  rate(key: string, value: number, at: number): number {
    const previous = this.last.get(key);
    this.last.set(key, { value, at });
    if (!previous || at <= previous.at || value < previous.value) return 0;
    return ((value - previous.value) * 1000) / (at - previous.at);
  }

  /** Forgets every key not in `keep` (deals nobody watches any more). */
  retain(keep: ReadonlySet<string>): void {
    for (const key of this.last.keys()) if (!keep.has(key)) this.last.delete(key);
  }
}

/** Rounds a rate for display on the wire: two decimals. */
export const roundRate = (perSecond: number): number => Math.round(perSecond * 100) / 100;
