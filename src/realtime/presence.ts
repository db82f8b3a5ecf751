/**
 * Which signed-in shoppers have a socket watching which deal, on this node. A shopper with two tabs
 * counts once per deal and stays present until their last socket there leaves. Used to tell the
 * deal actors who is still there, so the waiting room skips only shoppers who are gone.
 */
export class Presence {
  /** socket id -> (deal id -> user id) */
  private readonly sockets = new Map<string, Map<string, string>>();
  /** deal id -> (user id -> number of sockets) */
  private readonly deals = new Map<string, Map<string, number>>();

  join(socketId: string, dealId: string, userId: string): void {
    let watched = this.sockets.get(socketId);
    if (!watched) this.sockets.set(socketId, (watched = new Map()));
    if (watched.has(dealId)) return;
    watched.set(dealId, userId);
    let users = this.deals.get(dealId);
    if (!users) this.deals.set(dealId, (users = new Map()));
    users.set(userId, (users.get(userId) ?? 0) + 1);
  }

  leave(socketId: string, dealId: string): void {
    const watched = this.sockets.get(socketId);
    const userId = watched?.get(dealId);
    if (!watched || userId === undefined) return;
    watched.delete(dealId);
    if (watched.size === 0) this.sockets.delete(socketId);
    const users = this.deals.get(dealId)!;
    const n = (users.get(userId) ?? 1) - 1;
    if (n > 0) users.set(userId, n);
    else users.delete(userId);
    if (users.size === 0) this.deals.delete(dealId);
  }

  leaveAll(socketId: string): void {
    for (const dealId of [...(this.sockets.get(socketId)?.keys() ?? [])]) this.leave(socketId, dealId);
  }

  /** Deal id -> the shoppers present in its room on this node. */
  *byDeal(): IterableIterator<[string, string[]]> {
    for (const [dealId, users] of this.deals) yield [dealId, [...users.keys()]];
  }
}
