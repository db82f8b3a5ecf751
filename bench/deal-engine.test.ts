import { dealTransition } from '../src/actors/deal/transition';
import { emptyDealState } from '../src/actors/deal/state';
import { EXPIRY_BUCKET_MS } from '../src/actors/deal/hold-book';
import { roomSale, sale, type EngineModule } from './deal-engine';

const engine = { dealTransition, emptyDealState } as unknown as EngineModule;

describe('deal-engine sale', () => {
  it('sells the payers’ units, returns the rest, and fires one holds reminder per expiry bucket, not per hold', () => {
    const units = 2_000;
    const result = sale(engine, units);
    expect(result.balanced).toBe(true);
    // Holds, then an attach and a sell for every second shopper, then the reminders.
    expect(result.turns).toBe(units + units + result.reminders);
    // 1,000 holds expire over about 2 s: at most one reminder per bucket they fall in (+1 for the first).
    expect(result.reminders).toBeLessThanOrEqual(Math.ceil(units / EXPIRY_BUCKET_MS) + 2);
    expect(result.reminders).toBeGreaterThan(0);
  });

  it('drives a waiting-room sale to the end: everyone admitted in turn, the payers’ units sold, the stock balanced', () => {
    const result = roomSale(engine, 400);
    expect(result.balanced).toBe(true);
    // 400 joins, then at least a hold per unit (200), an attach and a sell per payer, and the room's ticks.
    expect(result.turns).toBeGreaterThan(400 + 200 + 2 * 100);
  });
});
