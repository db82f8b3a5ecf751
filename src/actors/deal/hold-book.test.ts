import { EXPIRY_BUCKET_MS, HoldBook, reminderTimeFor } from './hold-book';
import type { LiveHold } from './state';

const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
const hold = (id: string, expiresAt: number, over: Partial<LiveHold> = {}): LiveHold => ({ id, userId: `u-${id}`, quantity: 1, unitPrice: 1000, status: 'active', orderId: null, expiresAt, createdAt: T0, ...over });
const ids = (holds: LiveHold[]) => holds.map((h) => h.id).sort();

describe('HoldBook', () => {
  it('files holds by expiry bucket: the reminder is the end of the earliest bucket, due() returns exactly the expired', () => {
    const book = HoldBook.empty().set(hold('a', T0 + 10)).set(hold('b', T0 + 240)).set(hold('c', T0 + 250)).set(hold('d', T0 + 251));
    expect(reminderTimeFor(T0 + 10)).toBe(T0 + EXPIRY_BUCKET_MS);
    expect(book.nextReminderAt()).toBe(T0 + 250);
    expect(ids(book.due(T0 + 9))).toEqual([]);
    expect(ids(book.due(T0 + 100))).toEqual(['a']);
    expect(ids(book.due(T0 + 250))).toEqual(['a', 'b', 'c']);
    expect(ids(book.due(T0 + 10_000))).toEqual(['a', 'b', 'c', 'd']);
    const drained = book.delete('a').delete('b').delete('c');
    expect(drained.nextReminderAt()).toBe(T0 + 500);
    expect(drained.delete('d').nextReminderAt()).toBeNull();
    expect(drained.delete('d').indexes()).toEqual({ byOrder: [], byBucket: [], buckets: [] });
  });

  it('re-files a hold whose order or expiry changes, and finds an order’s holds without walking the rest', () => {
    let book = HoldBook.of([hold('a', T0 + 100), hold('b', T0 + 100), hold('c', T0 + 100)]);
    book = book.set({ ...book.get('a')!, status: 'ordered', orderId: 'o1', expiresAt: T0 + 900_000 });
    book = book.set({ ...book.get('b')!, status: 'ordered', orderId: 'o1', expiresAt: T0 + 900_000 });
    expect(ids(book.ofOrder('o1'))).toEqual(['a', 'b']);
    expect(book.ofOrder('o2')).toEqual([]);
    expect(ids(book.due(T0 + 250))).toEqual(['c']); // a and b moved to the order's expiry
    expect(book.indexes()).toEqual(HoldBook.of([...book.values()]).indexes());
    const sold = book.delete('a').delete('b');
    expect(sold.ofOrder('o1')).toEqual([]);
    expect(sold.nextReminderAt()).toBe(T0 + 250);
    expect(sold.indexes()).toEqual(HoldBook.of([...sold.values()]).indexes());
  });

  it('leaves the book it was made from unchanged (a turn whose commit fails is dropped)', () => {
    const before = HoldBook.of([hold('a', T0 + 100)]);
    const after = before.set(hold('b', T0 + 5000)).delete('a');
    expect(ids([...before.values()])).toEqual(['a']);
    expect(before.nextReminderAt()).toBe(T0 + 250);
    expect(ids([...after.values()])).toEqual(['b']);
    expect(before.delete('zzz')).toBe(before);
  });

  it('keeps its buckets sorted when a hold expires earlier than the latest one', () => {
    const book = HoldBook.empty().set(hold('late', T0 + 60_000)).set(hold('early', T0 + 1_000)).set(hold('middle', T0 + 30_000));
    expect(book.indexes().buckets).toEqual([T0 + 1_000, T0 + 30_000, T0 + 60_000].map((t) => t / EXPIRY_BUCKET_MS));
    expect(book.nextReminderAt()).toBe(T0 + 1_000);
  });
});
