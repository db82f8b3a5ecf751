import { cartTransition, type CartState } from './cart-actor';

const hold = (id: string, expiresAt: number) => ({ id, dealId: 'd1', userId: 'u1', quantity: 1, unitPrice: 100, currency: 'KRW', expiresAt });

describe('cart transition', () => {
  it('tracks holds placed and removed, lists unexpired ones soonest-expiring first, and looks holds up', () => {
    let state: CartState = { userId: 'u1', holds: [] };
    for (const h of [hold('a', 300), hold('b', 100), hold('c', 200)]) state = cartTransition(state, { type: 'holdPlaced', hold: h }).state;
    state = cartTransition(state, { type: 'holdRemoved', holdId: 'c' }).state;
    expect(cartTransition(state, { type: 'list', now: 50 }).reply).toEqual({ ok: true, value: [hold('b', 100), hold('a', 300)] });
    expect(cartTransition(state, { type: 'list', now: 150 }).reply).toEqual({ ok: true, value: [hold('a', 300)] });
    expect(cartTransition(state, { type: 'lookup', now: 150, holdIds: ['a', 'b', 'zzz'] }).reply).toEqual({ ok: true, value: { found: [hold('a', 300)], missing: ['b', 'zzz'] } });
    // Removing an unknown hold changes nothing.
    expect(cartTransition(state, { type: 'holdRemoved', holdId: 'nope' }).state).toBe(state);
  });

  it('keeps holds soonest-expiring first, ties in arrival order, and replaces a hold placed twice', () => {
    let state: CartState = { userId: 'u1', holds: [] };
    for (const h of [hold('a', 300), hold('b', 100), hold('c', 300), hold('d', 200), hold('b', 100)]) state = cartTransition(state, { type: 'holdPlaced', hold: h }).state;
    expect(state.holds.map((h) => h.id)).toEqual(['b', 'd', 'a', 'c']);
    const before = state.holds;
    state = cartTransition(state, { type: 'holdPlaced', hold: hold('a', 50) }).state;
    expect(state.holds.map((h) => h.id)).toEqual(['a', 'b', 'd', 'c']);
    expect(before.map((h) => h.id)).toEqual(['b', 'd', 'a', 'c']); // the earlier state is left as it was
    expect(cartTransition(state, { type: 'list', now: 100 }).reply).toEqual({ ok: true, value: [hold('d', 200), hold('c', 300)] });
  });
});
