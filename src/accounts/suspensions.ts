import type { Database } from '../persistence/database';
import { UserEntity } from '../persistence/entities/user.entity';
import { revokeRefreshTokens } from './accounts';

/**
 * The suspended accounts, held in memory so every authenticated request (the hold hot path
 * included) can refuse a suspended account's access token with one set lookup, without a database
 * read. A suspension on this node takes effect at once; one made on another node arrives with the
 * next {@link Suspensions.sync} (every `SUSPENSION_SYNC_SECONDS`).
 */
export class Suspensions {
  private ids = new Set<string>();
  /** Changes made here, by time: a sync whose read began before one must not undo it. */
  private changes = new Map<string, { suspended: boolean; at: number }>();

  has(userId: string): boolean {
    return this.ids.has(userId);
  }

  /** Re-reads the suspended accounts from the database. */
  async sync(db: Database): Promise<void> {
    const started = Date.now();
    const rows = await db.read((m) => m.find(UserEntity, { select: { id: true }, where: { status: 'suspended' } }));
    const ids = new Set(rows.map((r) => r.id));
    for (const [userId, change] of this.changes) {
      if (change.at < started - 60_000) this.changes.delete(userId);
      else if (change.at >= started - 1000) change.suspended ? ids.add(userId) : ids.delete(userId);
    }
    this.ids = ids;
  }

  /**
   * Suspends an account: its status, its refresh tokens revoked (so it cannot refresh either),
   * and this node's set. Returns false for no such account.
   */
  async suspend(db: Database, userId: string, now = Date.now()): Promise<boolean> {
    const found = await db.transaction(async (m) => {
      const updated = await m.update(UserEntity, { id: userId }, { status: 'suspended', suspendedAt: now });
      if (!updated.affected) return false;
      await revokeRefreshTokens(m, { userId }, now);
      return true;
    });
    if (found) {
      this.ids.add(userId);
      this.changes.set(userId, { suspended: true, at: Date.now() });
    }
    return found;
  }

  /** Lifts a suspension (the account logs in again: its refresh tokens stay revoked). */
  async unsuspend(db: Database, userId: string): Promise<boolean> {
    const updated = await db.autocommit((m) => m.update(UserEntity, { id: userId }, { status: 'active', suspendedAt: null }));
    this.ids.delete(userId);
    this.changes.set(userId, { suspended: false, at: Date.now() });
    return Boolean(updated.affected);
  }
}
