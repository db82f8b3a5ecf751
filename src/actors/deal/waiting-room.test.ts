import fc from 'fast-check';
import type { Effect } from '../runtime/actor';
import type { DealMessage, NewDeal, TicketInfo } from './messages';
import { emptyDealState, fromSnapshot, toSnapshot, type DealState } from './state';
import { dealTransition, stockBalances } from './transition';
import { shuffleOrder } from './waiting-room';

const room = { tickMs: 1000, goneAfterMs: 60_000, admissionTtlMs: 600_000 };
const rules = { stockPublishIntervalMs: 100, room };
const T0 = Date.UTC(2026, 10, 21, 12, 0, 0);
const deal = (over: Partial<NewDeal> = {}): NewDeal => ({
  id: 'd1', sellerId: 's1', title: 'Deal', description: '', category: 'test', imageUrl: null, price: 1000, originalPrice: 2000, currency: 'KRW',
  totalStock: 100, perUserLimit: 2, startsAt: T0, endsAt: T0 + 3_600_000,
  waitingRoom: { enabled: true, admissionPerMinute: 120, maxActive: 5 }, ...over,
});

function run(state: DealState, ...messages: DealMessage[]) {
  const turns: Array<{ reply: unknown; effects: Effect[] }> = [];
  for (const message of messages) {
    const t = dealTransition(state, message, rules);
    state = t.state;
    turns.push({ reply: t.reply, effects: t.effects ?? [] });
  }
  return { state, turns, last: turns[turns.length - 1] };
}
const created = (now: number, over: Partial<NewDeal> = {}) => run(emptyDealState(), { type: 'create', now, deal: deal(over) }).state;
const join = (userId: string, now: number): DealMessage => ({ type: 'join', now, userId, ticketId: `t-${userId}` });
const tick = (now: number, entropy = 'c0ffee42'): DealMessage => ({ type: 'alarm', name: 'queue', now, entropy });
const value = <T>(reply: unknown) => (reply as { ok: true; value: T }).value;
const codeOf = (reply: unknown) => (reply as { ok: boolean; error?: { code: string } }).error?.code ?? 'OK';
const users = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `u${String(i + from).padStart(5, '0')}`);
const progressOf = (effects: Effect[]) => effects.find((e) => e.type === 'publish' && e.event === 'queue:progress') as Extract<Effect, { type: 'publish' }> | undefined;

/** Spearman's rank correlation of two permutations of 0..n-1 given as rank arrays. */
function spearman(a: number[], b: number[]): number {
  const n = a.length;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (a[i] - b[i]) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}

describe('waiting room', () => {
  it('gives each shopper one ticket: a second join (refresh, new tab) returns the same one', () => {
    let s = created(T0 + 1);
    const first = run(s, join('a', T0 + 10));
    s = first.state;
    const again = run(s, join('a', T0 + 20));
    expect(value<TicketInfo>(first.last.reply)).toMatchObject({ created: true, ticket: { seq: 1, status: 'waiting' } });
    expect(value<TicketInfo>(again.last.reply)).toMatchObject({ created: false, ticket: { id: 't-a', seq: 1 } });
    expect(again.last.effects.filter((e) => e.type === 'persist')).toEqual([]);
    expect(again.state.room.meta.lastSeq).toBe(1);
  });

  it('refuses a deal without a waiting room, and an ended one', () => {
    expect(codeOf(run(created(T0 + 1, { waitingRoom: { enabled: false, admissionPerMinute: 1, maxActive: 1 } }), join('a', T0 + 2)).last.reply)).toBe('INVALID_STATE');
    expect(codeOf(run(created(T0 + 1), { type: 'cancel', now: T0 + 2 }, join('a', T0 + 3)).last.reply)).toBe('DEAL_NOT_OPEN');
  });

  it('pre-queues early arrivals, shuffles them once at the start from a stored seed, then appends later arrivals in order', () => {
    let s = created(T0 - 60_000);
    const early = users(1000);
    s = run(s, ...early.map((u, i) => join(u, T0 - 50_000 + i))).state;
    expect(s.room.prequeue.size).toBe(1000);
    expect(value<TicketInfo>(run(s, { type: 'ticket', now: T0 - 1, userId: early[0] }).last.reply)).toMatchObject({ ticket: { status: 'prequeue', seq: null }, position: null });
    const open = run(s, { type: 'alarm', name: 'open', now: T0 });
    expect(open.last.effects).toContainEqual({ type: 'remind', name: 'queue', at: T0 });
    const shuffled = run(open.state, tick(T0 + 5, '9e3779b97f4a7c15'));
    s = shuffled.state;
    expect(s.room.meta.seed).toBe('9e3779b9');
    const seqs = early.map((u) => s.room.tickets.get(u)!.seq!);
    expect(new Set(seqs).size).toBe(1000);
    expect(Math.min(...seqs)).toBe(1);
    expect(Math.max(...seqs)).toBe(1000);
    // Arrival order and final order are uncorrelated (|rho| well under 0.1 for n = 1000)...
    expect(Math.abs(spearman(early.map((_, i) => i), seqs.map((q) => q - 1)))).toBeLessThan(0.1);
    // ...and the order reproduces from the stored seed alone.
    expect(shuffleOrder(early, s.room.meta.seed!)).toEqual([...early].sort((a, b) => s.room.tickets.get(a)!.seq! - s.room.tickets.get(b)!.seq!));
    // Every shuffled ticket's row gets its seq.
    const updates = shuffled.last.effects.filter((e) => e.type === 'persist' && (e.change as { op: string }).op === 'updateTicket');
    expect(updates.length).toBeGreaterThanOrEqual(1000);
    const late = run(s, join('late1', T0 + 100), join('late2', T0 + 200));
    expect(late.state.room.tickets.get('late1')!.seq).toBe(1001);
    expect(late.state.room.tickets.get('late2')!.seq).toBe(1002);
  });

  it('shuffles differently for different seeds, and the same for the same seed', () => {
    const input = users(50);
    expect(shuffleOrder(input, 'deadbeef')).toEqual(shuffleOrder(input, 'deadbeef'));
    expect(shuffleOrder(input, 'deadbeef')).not.toEqual(shuffleOrder(input, 'beefdead'));
    expect([...shuffleOrder(input, 'deadbeef')].sort()).toEqual(input);
  });

  it('admits in seq order at the configured rate, never more than maxActive at once', () => {
    // 120 per minute = 2 per second; maxActive 5.
    let s = created(T0 + 1);
    s = run(s, ...users(20).map((u, i) => join(u, T0 + 10 + i))).state;
    const admittedAt: Array<[string, number]> = [];
    for (let t = 1; t <= 10; t++) {
      const r = run(s, tick(T0 + t * 1000));
      s = r.state;
      for (const e of r.last.effects) if (e.type === 'publish' && e.event === 'queue:admitted') admittedAt.push([(e.payload as { userId: string }).userId, t]);
      expect(s.room.active.size).toBeLessThanOrEqual(5);
      const p = progressOf(r.last.effects)!.payload as { servingSeq: number; waiting: number; admitted: number; admissionPerMinute: number };
      expect(p).toMatchObject({ servingSeq: s.room.meta.servingSeq, waiting: 20 - s.room.meta.servingSeq, admitted: s.room.active.size, admissionPerMinute: 120 });
    }
    // seq order: u00000, u00001, ... exactly the first five (maxActive), at two per second at most.
    expect(admittedAt.map(([u]) => u)).toEqual(users(5));
    const perTick = new Map<number, number>();
    for (const [, t] of admittedAt) perTick.set(t, (perTick.get(t) ?? 0) + 1);
    for (const n of perTick.values()) expect(n).toBeLessThanOrEqual(4); // two ticks' worth at most (the bucket's cap)
  });

  it('frees a place when an admitted shopper pays, cancels or leaves, and lets the next one in', () => {
    let s = created(T0 + 1, { waitingRoom: { enabled: true, admissionPerMinute: 6000, maxActive: 1 } });
    s = run(s, join('a', T0 + 10), join('b', T0 + 11), join('c', T0 + 12), tick(T0 + 1000)).state;
    expect([...s.room.active.keys()]).toEqual(['a']);
    s = run(s, { type: 'reserve', now: T0 + 1100, userId: 'a', holdId: 'h1', quantity: 1, ttlMs: 60_000, admitted: true }).state;
    s = run(s, { type: 'attach', now: T0 + 1200, userId: 'a', orderId: 'o1', holdIds: ['h1'], until: T0 + 900_000 }, { type: 'sell', now: T0 + 1300, orderId: 'o1' }).state;
    expect(s.room.tickets.get('a')).toMatchObject({ status: 'done', endReason: 'paid' });
    s = run(s, tick(T0 + 2000)).state;
    expect([...s.room.active.keys()]).toEqual(['b']);
    s = run(s, { type: 'leave', now: T0 + 2100, userId: 'b' }, tick(T0 + 3000)).state;
    expect(s.room.tickets.get('b')).toMatchObject({ status: 'done', endReason: 'left' });
    expect([...s.room.active.keys()]).toEqual(['c']);
    expect(stockBalances(s.deal!)).toBe(true);
  });

  it('ends an admission when it expires, and an admin can revoke one', () => {
    let s = created(T0 + 1, { waitingRoom: { enabled: true, admissionPerMinute: 6000, maxActive: 10 } });
    s = run(s, join('a', T0 + 10), join('b', T0 + 11), tick(T0 + 1000)).state;
    const revoked = run(s, { type: 'revokeAdmission', now: T0 + 1500, userId: 'b' });
    expect(revoked.state.room.tickets.get('b')).toMatchObject({ status: 'done', endReason: 'revoked' });
    expect(codeOf(run(revoked.state, { type: 'reserve', now: T0 + 1600, userId: 'b', holdId: 'hb', quantity: 1, ttlMs: 60_000, admitted: true }).last.reply)).toBe('NOT_ADMITTED');
    expect(codeOf(run(s, { type: 'revokeAdmission', now: T0 + 1500, userId: 'nobody' }).last.reply)).toBe('NOT_FOUND');
    s = run(revoked.state, { type: 'seen', now: T0 + 600_000, userIds: ['a'] }, tick(T0 + 1000 + 600_000)).state;
    expect(s.room.tickets.get('a')).toMatchObject({ status: 'done', endReason: 'expired' });
    expect(s.room.active.size).toBe(0);
  });

  it('gives a shopper whose admission bought nothing (expired, left) a new place at the back; a paid or revoked one stays ended', () => {
    let s = created(T0 + 1, { waitingRoom: { enabled: true, admissionPerMinute: 6000, maxActive: 10 } });
    s = run(s, join('late', T0 + 10), join('gone', T0 + 11), join('buyer', T0 + 12), join('banned', T0 + 13), tick(T0 + 1000)).state;
    const hold = (userId: string, now: number, holdId = `h-${userId}-${now}`): DealMessage => ({ type: 'reserve', now, userId, holdId, quantity: 1, ttlMs: 60_000, admitted: true });
    s = run(s, hold('buyer', T0 + 1100, 'hb')).state;
    s = run(s, { type: 'attach', now: T0 + 1200, userId: 'buyer', orderId: 'ob', holdIds: ['hb'], until: T0 + 900_000 }, { type: 'sell', now: T0 + 1300, orderId: 'ob' }).state;
    s = run(s, { type: 'revokeAdmission', now: T0 + 1400, userId: 'banned' }, { type: 'leave', now: T0 + 1500, userId: 'gone' }).state;
    // "late" waited past its admission's lifetime (600 s here) for units to come back.
    const expiredAt = T0 + 1000 + 600_000;
    const refused = run(s, hold('late', expiredAt + 1));
    expect(refused.last.reply).toMatchObject({ ok: false, error: { code: 'NOT_ADMITTED', detail: expect.stringContaining('expired: join the queue again') } });
    s = run(s, { type: 'seen', now: expiredAt, userIds: ['late'] }, tick(expiredAt + 500)).state;
    expect(s.room.tickets.get('late')).toMatchObject({ status: 'done', endReason: 'expired' });
    const lastSeq = s.room.meta.lastSeq;
    const back = run(s, join('late', expiredAt + 600), join('gone', expiredAt + 700), join('buyer', expiredAt + 800), join('banned', expiredAt + 900));
    const [late, gone, buyer, banned] = back.turns.map((t) => value<TicketInfo>(t.reply));
    expect(late).toMatchObject({ created: false, ticket: { id: 't-late', status: 'waiting', seq: lastSeq + 1, admittedAt: null, admissionExpiresAt: null, endReason: null } });
    expect(gone).toMatchObject({ created: false, ticket: { id: 't-gone', status: 'waiting', seq: lastSeq + 2 } });
    expect(buyer.ticket).toMatchObject({ status: 'done', endReason: 'paid', seq: 3 });
    expect(banned.ticket).toMatchObject({ status: 'done', endReason: 'revoked' });
    expect(back.turns[0].effects).toContainEqual({ type: 'persist', change: { op: 'updateTicket', ticket: late.ticket } });
    expect(back.turns[2].effects.filter((e) => e.type === 'persist')).toEqual([]);
    expect(back.state.room.meta.lastSeq).toBe(lastSeq + 2);
    // Reached again: a new admission, and the hold goes through.
    s = run(back.state, tick(expiredAt + 1500)).state;
    expect(s.room.tickets.get('late')).toMatchObject({ status: 'admitted', admissionExpiresAt: expiredAt + 1500 + 600_000 });
    expect(run(s, hold('late', expiredAt + 1600)).last.reply).toMatchObject({ ok: true });
    expect(run(s, hold('buyer', expiredAt + 1600)).last.reply).toMatchObject({ ok: false, error: { detail: expect.stringContaining('used for a paid order') } });
    // Once the deal has sold out, an ended place is not renewed: nothing left to queue for.
    const soldOut = run(created(T0 + 1, { totalStock: 1, waitingRoom: { enabled: true, admissionPerMinute: 6000, maxActive: 10 } }), join('a', T0 + 10), join('b', T0 + 11), tick(T0 + 1000));
    s = run(soldOut.state, hold('a', T0 + 1100), { type: 'leave', now: T0 + 1200, userId: 'b' }).state;
    expect(s.deal!.status).toBe('sold_out');
    expect(codeOf(run(s, join('b', T0 + 1300)).last.reply)).toBe('SOLD_OUT');
  });

  it('skips shoppers gone longer than goneAfterMs when reached; those still seen keep their place; the skipped may rejoin at the back', () => {
    let s = created(T0 + 1, { waitingRoom: { enabled: true, admissionPerMinute: 6000, maxActive: 100 } });
    s = run(s, join('gone', T0 + 10), join('here', T0 + 11), { type: 'alarm', name: 'holds', now: T0 + 12 }).state;
    // Both are reached only after 61 s; "here" kept a socket open (presence), "gone" did not.
    s = run(s, { type: 'seen', now: T0 + 50_000, userIds: ['here'] }, { type: 'pause', now: T0 + 1 }).state;
    s = run(s, { type: 'resume', now: T0 + 61_000 }, tick(T0 + 61_000)).state;
    expect(s.room.tickets.get('gone')).toMatchObject({ status: 'skipped', endReason: 'gone' });
    expect(s.room.tickets.get('here')).toMatchObject({ status: 'admitted' });
    expect(s.room.meta.skipped).toBe(1);
    const back = run(s, join('gone', T0 + 62_000));
    expect(value<TicketInfo>(back.last.reply)).toMatchObject({ ticket: { status: 'waiting', seq: 3 }, created: false });
  });

  it('gives every waiting shopper position = seq - servingSeq - 1, the count of unsettled tickets ahead', () => {
    let s = created(T0 + 1, { waitingRoom: { enabled: true, admissionPerMinute: 600, maxActive: 1000 } });
    const all = users(60);
    s = run(s, ...all.map((u, i) => join(u, T0 + 10 + i))).state;
    s = run(s, tick(T0 + 1000), tick(T0 + 2000)).state;
    for (const u of all) {
      const info = value<TicketInfo>(run(s, { type: 'ticket', now: T0 + 2001, userId: u }).last.reply);
      const ahead = [...s.room.tickets.values()].filter((t) => t.status === 'waiting' && t.seq! < info.ticket.seq!).length;
      expect(info.position).toBe(info.ticket.status === 'waiting' ? ahead : 0);
    }
    expect(value<TicketInfo>(run(s, { type: 'ticket', now: T0 + 2001, userId: all[59] }).last.reply).outflowPerMinute).toBeGreaterThan(0);
  });

  it('stops admitting while paused (deal or room) and resumes; a rate change shows in the next progress', () => {
    let s = created(T0 + 1, { waitingRoom: { enabled: true, admissionPerMinute: 60, maxActive: 100 } });
    s = run(s, ...users(30).map((u, i) => join(u, T0 + 10 + i)), tick(T0 + 1000)).state;
    const served = s.room.meta.servingSeq;
    const paused = run(s, { type: 'setWaitingRoom', now: T0 + 1100, settings: { paused: true } }, tick(T0 + 2000), tick(T0 + 3000));
    expect(paused.state.room.meta.servingSeq).toBe(served);
    expect(progressOf(paused.last.effects)!.payload).toMatchObject({ paused: true });
    const resumed = run(paused.state, { type: 'setWaitingRoom', now: T0 + 3100, settings: { paused: false, admissionPerMinute: 600 } }, tick(T0 + 4000));
    expect(resumed.state.room.meta.servingSeq).toBeGreaterThan(served);
    expect(progressOf(resumed.last.effects)!.payload).toMatchObject({ admissionPerMinute: 600, paused: false });
  });

  it('goes quiet once nobody waits: one progress saying so, none after, until someone waits or a setting changes', () => {
    let s = created(T0 + 1, { waitingRoom: { enabled: true, admissionPerMinute: 6000, maxActive: 10 } });
    s = run(s, join('a', T0 + 10), join('b', T0 + 11)).state;
    // Both admitted at the first tick: that tick still reports it (waiting 0), and the ticks go on
    // (admissions to expire) without publishing.
    const first = run(s, tick(T0 + 1000));
    expect(progressOf(first.last.effects)!.payload).toMatchObject({ waiting: 0, admitted: 2 });
    const quiet = run(first.state, tick(T0 + 2000), tick(T0 + 3000));
    for (const turn of quiet.turns) {
      expect(progressOf(turn.effects)).toBeUndefined();
      expect(turn.effects).toContainEqual(expect.objectContaining({ type: 'remind', name: 'queue' }));
    }
    expect(quiet.state.deal!.seq).toBe(first.state.deal!.seq);
    // A rate change shows in the next tick even with nobody waiting.
    const changed = run(quiet.state, { type: 'setWaitingRoom', now: T0 + 3100, settings: { admissionPerMinute: 600 } }, tick(T0 + 4000));
    expect(progressOf(changed.last.effects)!.payload).toMatchObject({ admissionPerMinute: 600, waiting: 0 });
    expect(progressOf(run(changed.state, tick(T0 + 5000)).last.effects)).toBeUndefined();
    // Someone waiting again (maxActive reached): progress every tick again.
    s = run(changed.state, { type: 'setWaitingRoom', now: T0 + 5100, settings: { maxActive: 2 } }, tick(T0 + 6000), join('c', T0 + 6100)).state;
    const again = run(s, tick(T0 + 7000), tick(T0 + 8000));
    for (const turn of again.turns) expect(progressOf(turn.effects)!.payload).toMatchObject({ waiting: 1, admitted: 2 });
  });

  it('needs a live admission to hold: refused without the token check, or when not admitted', () => {
    let s = created(T0 + 1);
    s = run(s, join('a', T0 + 10), join('b', T0 + 11)).state;
    const reserve = (userId: string, admitted: boolean): DealMessage => ({ type: 'reserve', now: T0 + 20, userId, holdId: `h-${userId}`, quantity: 1, ttlMs: 60_000, admitted });
    expect(codeOf(run(s, reserve('a', false)).last.reply)).toBe('NOT_ADMITTED');
    expect(codeOf(run(s, reserve('a', true)).last.reply)).toBe('NOT_ADMITTED'); // token ok, not yet admitted
    s = run(s, tick(T0 + 1000)).state;
    expect(codeOf(run(s, { ...reserve('a', true), now: T0 + 1001 } as DealMessage).last.reply)).toBe('OK');
  });

  it('round-trips a snapshot with a live room', () => {
    let s = created(T0 - 1000);
    s = run(s, ...users(10).map((u, i) => join(u, T0 - 500 + i)), { type: 'alarm', name: 'open', now: T0 }, tick(T0 + 1), join('late', T0 + 2)).state;
    expect(toSnapshot(fromSnapshot(toSnapshot(s)))).toEqual(toSnapshot(s));
  });

  it('a waiting shopper who leaves is out at once, though the page stays open, and joining again is at the back', () => {
    // Admission paused: a, b, c wait with seqs 1, 2, 3.
    let s = created(T0 + 1, { waitingRoom: { enabled: true, admissionPerMinute: 6000, maxActive: 10, paused: true } });
    s = run(s, join('a', T0 + 10), join('b', T0 + 11), join('c', T0 + 12), tick(T0 + 1000)).state;
    const left = run(s, { type: 'leave', now: T0 + 1100, userId: 'a' });
    s = left.state;
    expect(s.room.tickets.get('a')).toMatchObject({ status: 'done', endReason: 'left', seq: 1, endedAt: T0 + 1100 });
    expect(left.last.effects).toContainEqual({ type: 'persist', change: { op: 'updateTicket', ticket: s.room.tickets.get('a') } });
    // The shopper's socket still marks it present; admission resumes: b and c are let in, a is not.
    s = run(s, { type: 'seen', now: T0 + 1200, userIds: ['a', 'b', 'c'] }, { type: 'setWaitingRoom', now: T0 + 1300, settings: { paused: false } }, tick(T0 + 2000)).state;
    expect([...s.room.active.keys()]).toEqual(['b', 'c']);
    expect(s.room.tickets.get('a')).toMatchObject({ status: 'done', endReason: 'left' });
    // Joining again: the same ticket, the next seq.
    const back = run(s, join('a', T0 + 2100));
    expect(value<TicketInfo>(back.last.reply)).toMatchObject({ created: false, ticket: { id: 't-a', status: 'waiting', seq: 4 } });
  });

  it('keeps every invariant under random joins, ticks, pays and leaves (property)', () => {
    const action = fc.oneof(
      fc.record({ kind: fc.constant('join' as const), user: fc.integer({ min: 0, max: 30 }) }),
      // Mostly a tick or two apart; now and then past the admission lifetime (600 s), so admissions expire.
      fc.record({ kind: fc.constant('tick' as const), gap: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 1, max: 3000 }) }, { weight: 1, arbitrary: fc.integer({ min: 100_000, max: 700_000 }) }) }),
      fc.record({ kind: fc.constant('leave' as const), user: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ kind: fc.constant('seen' as const), user: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ kind: fc.constant('rate' as const), rate: fc.integer({ min: 1, max: 600 }), maxActive: fc.integer({ min: 1, max: 10 }) }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 80 }), (actions) => {
        let s = created(T0 + 1, { waitingRoom: { enabled: true, admissionPerMinute: 120, maxActive: 4 } });
        let now = T0 + 10;
        for (const a of actions) {
          now += a.kind === 'tick' ? a.gap : 7;
          const m: DealMessage =
            a.kind === 'join' ? join(`u${a.user}`, now)
            : a.kind === 'tick' ? tick(now)
            : a.kind === 'leave' ? { type: 'leave', now, userId: `u${a.user}` }
            : a.kind === 'seen' ? { type: 'seen', now, userIds: [`u${a.user}`] }
            : { type: 'setWaitingRoom', now, settings: { admissionPerMinute: a.rate, maxActive: a.maxActive } };
          const before = s.room;
          s = run(s, m).state;
          const r = s.room;
          const tickets = [...r.tickets.values()];
          // seqs are unique; everything at or below servingSeq is settled, everything above waits
          const seqs = tickets.filter((t) => t.seq !== null).map((t) => t.seq!);
          if (new Set(seqs).size !== seqs.length) return false;
          for (const t of tickets) {
            if (t.status === 'waiting' && t.seq! <= r.meta.servingSeq) return false;
            if (t.status === 'admitted' && !r.active.has(t.userId)) return false;
          }
          if (r.active.size !== tickets.filter((t) => t.status === 'admitted').length) return false;
          // active is in expiry order, matches each ticket's expiry, and a tick leaves no expired admission
          const expiries = [...r.active.values()];
          if (expiries.some((at, i) => i > 0 && at < expiries[i - 1])) return false;
          for (const [userId, at] of r.active) if (r.tickets.get(userId)!.admissionExpiresAt !== at) return false;
          if (m.type === 'alarm' && m.name === 'queue' && expiries.some((at) => at <= m.now)) return false;
          // a tick admits no more than maxActive allows (a lowered maxActive only stops new admissions)
          if (m.type === 'alarm' && r.active.size > Math.max(s.deal!.waitingRoom.maxActive, before.active.size)) return false;
          if (r.meta.servingSeq < before.meta.servingSeq) return false;
        }
        return true;
      }),
      { numRuns: 200 },
    );
  });
});
