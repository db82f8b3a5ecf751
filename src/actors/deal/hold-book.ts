import { Map as IMap, Set as ISet } from 'immutable';
import type { LiveHold } from './state';

/**
 * Width of a hold-expiry bucket (ms). Holds are filed by the bucket their `expiresAt` falls in, and
 * the deal's `holds` reminder fires at the end of the earliest bucket. So the reminder fires at most
 * 1000 / EXPIRY_BUCKET_MS times a second however many holds expire, and an expired hold's units go
 * back to stock at most this late. (Using an expired hold is refused at once: `attach` compares
 * `expiresAt` with the turn's clock, not with the bucket.)
 */
export const EXPIRY_BUCKET_MS = 250;

/** The bucket of `expiresAt` (epoch ms): bucket `b` covers ((b - 1) * width, b * width]. */
const bucketOf = (expiresAt: number): number => Math.ceil(expiresAt / EXPIRY_BUCKET_MS);

/** When a `holds` reminder meant for a hold expiring at `expiresAt` fires: the end of its bucket (epoch ms). */
export const reminderTimeFor = (expiresAt: number): number => bucketOf(expiresAt) * EXPIRY_BUCKET_MS;

/** `sorted` with `key` inserted in place (a new array; `sorted` is ascending and lacks `key`). */
function insertSorted(sorted: readonly number[], key: number): readonly number[] {
  let at = sorted.length;
  while (at > 0 && sorted[at - 1] > key) at -= 1; // new buckets are nearly always the latest
  return [...sorted.slice(0, at), key, ...sorted.slice(at)];
}

/**
 * A deal's live holds (in carts and on unpaid orders) by id, indexed by order and by expiry, as
 * one persistent value: every change returns a new book and leaves the old one intact, so a turn
 * whose commit fails is simply dropped.
 *
 * Costs, for n live holds: `get`/`set`/`delete` O(log n); {@link ofOrder} O(k) for the order's k
 * holds; {@link due} O(k log n) for the k holds it returns; {@link nextReminderAt} O(1). Before this
 * index, paying an order and every hold-expiry reminder walked all n holds, so a sale of n units
 * cost O(n^2): 10,000 one-unit holds that expire one by one took 6.6 s of the deal's mailbox
 * (`bench/deal-engine.ts`).
 *
 * Index shapes: `byOrder` order id -> ids of its holds (an order has a few); `byBucket` expiry
 * bucket -> hold ids; `buckets` the keys of `byBucket`, ascending, copied only when a bucket is
 * made or emptied (at most 1000 / {@link EXPIRY_BUCKET_MS} buckets a second of hold lifetimes).
 */
export class HoldBook {
  private constructor(
    private readonly byId: IMap<string, LiveHold>,
    private readonly byOrder: IMap<string, readonly string[]>,
    private readonly byBucket: IMap<number, ISet<string>>,
    private readonly buckets: readonly number[],
  ) {}

  private static readonly EMPTY = new HoldBook(IMap(), IMap(), IMap(), []);

  static empty(): HoldBook {
    return HoldBook.EMPTY;
  }

  /** A book of `holds` (ids unique), built in one pass: O(n log n). */
  static of(holds: Iterable<LiveHold>): HoldBook {
    const byId = IMap<string, LiveHold>().asMutable();
    const byOrder = new Map<string, string[]>();
    const byBucket = new Map<number, string[]>();
    for (const hold of holds) {
      byId.set(hold.id, hold);
      if (hold.orderId !== null) {
        const ids = byOrder.get(hold.orderId);
        if (ids) ids.push(hold.id);
        else byOrder.set(hold.orderId, [hold.id]);
      }
      const bucket = bucketOf(hold.expiresAt);
      const ids = byBucket.get(bucket);
      if (ids) ids.push(hold.id);
      else byBucket.set(bucket, [hold.id]);
    }
    if (byId.size === 0) return HoldBook.EMPTY;
    return new HoldBook(
      byId.asImmutable(),
      IMap(byOrder),
      IMap([...byBucket].map(([bucket, ids]) => [bucket, ISet(ids)] as const)),
      [...byBucket.keys()].sort((a, b) => a - b),
    );
  }

  get size(): number {
    return this.byId.size;
  }

  get(id: string): LiveHold | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Every live hold, in no promised order. */
  values(): IterableIterator<LiveHold> {
    return this.byId.values();
  }

  /** The book with `hold` added, or replacing the hold of its id (re-filed if its order or expiry changed). */
  set(hold: LiveHold): HoldBook {
    const before = this.byId.get(hold.id);
    let { byOrder, byBucket, buckets } = this;
    if (before !== undefined && before.orderId !== hold.orderId && before.orderId !== null) byOrder = removeFromOrder(byOrder, before.orderId, hold.id);
    if (hold.orderId !== null && (before === undefined || before.orderId !== hold.orderId)) byOrder = byOrder.set(hold.orderId, [...(byOrder.get(hold.orderId) ?? []), hold.id]);
    const bucket = bucketOf(hold.expiresAt);
    if (before === undefined || bucketOf(before.expiresAt) !== bucket) {
      if (before !== undefined) [byBucket, buckets] = removeFromBucket(byBucket, buckets, bucketOf(before.expiresAt), hold.id);
      const ids = byBucket.get(bucket);
      if (ids === undefined) buckets = insertSorted(buckets, bucket);
      byBucket = byBucket.set(bucket, (ids ?? ISet<string>()).add(hold.id));
    }
    return new HoldBook(this.byId.set(hold.id, hold), byOrder, byBucket, buckets);
  }

  /** The book without hold `id` (itself if there is none). */
  delete(id: string): HoldBook {
    const hold = this.byId.get(id);
    if (hold === undefined) return this;
    const byOrder = hold.orderId === null ? this.byOrder : removeFromOrder(this.byOrder, hold.orderId, id);
    const [byBucket, buckets] = removeFromBucket(this.byBucket, this.buckets, bucketOf(hold.expiresAt), id);
    return new HoldBook(this.byId.delete(id), byOrder, byBucket, buckets);
  }

  /** The holds on order `orderId`, in the order they were attached. */
  ofOrder(orderId: string): LiveHold[] {
    return (this.byOrder.get(orderId) ?? []).map((id) => this.byId.get(id)!);
  }

  /** Every hold with `expiresAt <= now` (epoch ms), earliest bucket first. */
  due(now: number): LiveHold[] {
    const out: LiveHold[] = [];
    for (const bucket of this.buckets) {
      if ((bucket - 1) * EXPIRY_BUCKET_MS >= now) break; // this bucket and every later one expire after now
      for (const id of this.byBucket.get(bucket)!) {
        const hold = this.byId.get(id)!;
        if (hold.expiresAt <= now) out.push(hold);
      }
    }
    return out;
  }

  /** When the `holds` reminder should next fire: the end of the earliest bucket (epoch ms), or null with no holds. */
  nextReminderAt(): number | null {
    return this.buckets.length === 0 ? null : this.buckets[0] * EXPIRY_BUCKET_MS;
  }

  /**
   * The indexes in a plain, canonical form (sorted), for tests to compare with a book rebuilt by
   * {@link HoldBook.of} from the same holds.
   */
  indexes(): { byOrder: Array<[string, string[]]>; byBucket: Array<[number, string[]]>; buckets: number[] } {
    return {
      byOrder: [...this.byOrder].map(([orderId, ids]) => [orderId, [...ids].sort()] as [string, string[]]).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
      byBucket: [...this.byBucket].map(([bucket, ids]) => [bucket, [...ids].sort()] as [number, string[]]).sort((a, b) => a[0] - b[0]),
      buckets: [...this.buckets],
    };
  }
}

function removeFromOrder(byOrder: IMap<string, readonly string[]>, orderId: string, id: string): IMap<string, readonly string[]> {
  const ids = byOrder.get(orderId);
  if (ids === undefined) return byOrder;
  const rest = ids.filter((x) => x !== id);
  return rest.length === 0 ? byOrder.delete(orderId) : byOrder.set(orderId, rest);
}

function removeFromBucket(byBucket: IMap<number, ISet<string>>, buckets: readonly number[], bucket: number, id: string): [IMap<number, ISet<string>>, readonly number[]] {
  const ids = byBucket.get(bucket);
  if (ids === undefined || !ids.has(id)) return [byBucket, buckets];
  const rest = ids.delete(id);
  if (rest.size > 0) return [byBucket.set(bucket, rest), buckets];
  return [byBucket.delete(bucket), buckets.filter((b) => b !== bucket)];
}
