import type { EntityManager } from 'typeorm';
import { ActorInboxEntity, ActorOutboxEntity, ActorReminderEntity, ActorStateEntity } from '../../persistence/entities/actor.entity';
import { addressKey, type Address } from './actor';
import { execute, placeholders } from '../../persistence/sql';
import type { WriteSet } from '../../persistence/write-set';
import { FencedError } from './errors';

/**
 * The runtime's own rows: fencing tokens (`actor_state`), durable reminders, the inbox of handled
 * message ids and the outbox of committed sends. Every function takes the transaction's manager.
 */
export const journal = {
  /**
   * Raises the actor's fence to `token` for a new activation. Fails (returns false) when a newer
   * activation already holds a higher token.
   */
  async claimFence(manager: EntityManager, address: Address, token: number, now: number): Promise<boolean> {
    await manager
      .createQueryBuilder()
      .insert()
      .into(ActorStateEntity)
      .values({ kind: address.kind, actorId: address.id, fence: 0, commits: 0, updatedAt: now })
      .orIgnore()
      .execute();
    const result = await manager
      .createQueryBuilder()
      .update(ActorStateEntity)
      .set({ fence: token, updatedAt: now })
      .where('kind = :kind AND actor_id = :id AND fence < :token', { kind: address.kind, id: address.id, token })
      .execute();
    return result.affected === 1;
  },

  /**
   * Cluster mode: takes the actor with its partition's `token`, which may equal the fence it holds
   * already (the same lease term re-activating a passivated actor). Fails (false) when an owner
   * with a newer token has taken it: a stale partition owner cannot take its actors back.
   */
  async claimFenceAtMost(manager: EntityManager, address: Address, token: number, now: number): Promise<boolean> {
    await manager
      .createQueryBuilder()
      .insert()
      .into(ActorStateEntity)
      .values({ kind: address.kind, actorId: address.id, fence: 0, commits: 0, updatedAt: now })
      .orIgnore()
      .execute();
    const affected = await execute(manager, 'UPDATE actor_state SET fence = ?, updated_at = ? WHERE kind = ? AND actor_id = ? AND fence <= ?', [token, now, address.kind, address.id, token]);
    return affected === 1;
  },

  /**
   * {@link claimFenceAtMost} as two statements of a batch's `writes`: the batch fails with
   * FencedError when an owner with a newer token has taken the actor.
   */
  claimFenceAtMostWrites(writes: WriteSet, address: Address, token: number, now: number): void {
    addStateRow(writes, address, now);
    const key = addressKey(address);
    writes.add('UPDATE actor_state SET fence = ?, commits = commits + 1, updated_at = ? WHERE kind = ? AND actor_id = ? AND fence <= ?', [token, now, address.kind, address.id, token], (affected) =>
      affected === 1 ? null : new FencedError(key, token),
    );
  },

  /**
   * Embedded placement's claim as statements of a batch's `writes`: raises the actor's fence by
   * one (creating its row at 0 first) and reads it back. Nothing can refuse it: one process owns
   * every actor, and the raise fences off any older activation of it. Returns the new token's
   * getter, valid once the writes have run.
   */
  raiseFenceWrites(writes: WriteSet, address: Address, now: number): () => number {
    addStateRow(writes, address, now);
    writes.add('UPDATE actor_state SET fence = fence + 1, commits = commits + 1, updated_at = ? WHERE kind = ? AND actor_id = ?', [now, address.kind, address.id]);
    let token = 0;
    writes.addRead('SELECT fence FROM actor_state WHERE kind = ? AND actor_id = ?', [address.kind, address.id], (rows) => {
      token = Number(rows[0]?.fence ?? 0);
    });
    const key = addressKey(address);
    return () => {
      if (!(token > 0)) throw new FencedError(key, 0);
      return token;
    };
  },

  /** The current fence (0 when the actor never ran). */
  async currentFence(manager: EntityManager, address: Address): Promise<number> {
    const row = await manager.findOne(ActorStateEntity, { where: { kind: address.kind, actorId: address.id } });
    return row?.fence ?? 0;
  },

  /**
   * First statement of every commit: touches the actor's row only if `fence` is still the newest
   * token. It also takes the row lock, so commits of two activations of one actor serialize here.
   * The commit fails with FencedError (and rolls back) when a newer activation exists.
   */
  checkFence(writes: WriteSet, address: Address, fence: number, now: number): void {
    const key = addressKey(address);
    writes.add('UPDATE actor_state SET commits = commits + 1, updated_at = ? WHERE kind = ? AND actor_id = ? AND fence = ?', [now, address.kind, address.id, fence], (affected) =>
      affected === 1 ? null : new FencedError(key, fence),
    );
  },

  async loadReminders(manager: EntityManager, address: Address): Promise<Map<string, number>> {
    const rows = await manager.find(ActorReminderEntity, { where: { kind: address.kind, actorId: address.id } });
    return new Map(rows.map((r) => [r.name, r.dueAt]));
  },

  /** Clears and sets (upserts) the actor's durable reminders: at most two statements. */
  saveReminders(writes: WriteSet, address: Address, set: Map<string, number>, cleared: Set<string>): void {
    if (cleared.size > 0) {
      writes.add(`DELETE FROM actor_reminders WHERE kind = ? AND actor_id = ? AND name IN (${[...cleared].map(() => '?').join(', ')})`, [address.kind, address.id, ...cleared]);
    }
    if (set.size > 0) {
      const upsert = writes.dialect === 'mariadb' ? 'ON DUPLICATE KEY UPDATE due_at = VALUES(due_at)' : 'ON CONFLICT (kind, actor_id, name) DO UPDATE SET due_at = excluded.due_at';
      writes.add(
        `INSERT INTO actor_reminders (kind, actor_id, name, due_at) VALUES ${placeholders(set.size, 4)} ${upsert}`,
        [...set].flatMap(([name, dueAt]) => [address.kind, address.id, name, dueAt]),
      );
    }
  },

  /** Reminders due before `until` (epoch ms), for the poller that activates sleeping actors. */
  async dueReminders(manager: EntityManager, until: number, limit = 500): Promise<ActorReminderEntity[]> {
    return manager
      .createQueryBuilder(ActorReminderEntity, 'r')
      .where('r.due_at <= :until', { until })
      .orderBy('r.due_at', 'ASC')
      .limit(limit)
      .getMany();
  },

  /** Handled message ids of the last `sinceMs`, with their replies, to answer redeliveries. */
  async recentInbox(manager: EntityManager, address: Address, since: number): Promise<Map<string, unknown>> {
    const rows = await manager
      .createQueryBuilder(ActorInboxEntity, 'i')
      .where('i.kind = :kind AND i.actor_id = :id AND i.handled_at >= :since', { kind: address.kind, id: address.id, since })
      .getMany();
    return new Map(rows.map((r) => [r.messageId, r.reply === null ? undefined : JSON.parse(r.reply)]));
  },

  /** Records the batch's handled durable message ids with their replies (500 rows a statement). */
  recordInbox(writes: WriteSet, address: Address, entries: Array<{ id: string; reply: unknown }>, now: number): void {
    for (let i = 0; i < entries.length; i += 500) {
      const chunk = entries.slice(i, i + 500);
      writes.add(
        `INSERT INTO actor_inbox (kind, actor_id, message_id, reply, handled_at) VALUES ${placeholders(chunk.length, 5)}`,
        chunk.flatMap((e) => [address.kind, address.id, e.id, e.reply === undefined ? null : JSON.stringify(e.reply), now]),
      );
    }
  },

  /** Writes the batch's sends to the outbox (500 rows a statement). */
  writeOutbox(writes: WriteSet, rows: ActorOutboxEntity[]): void {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      writes.add(
        `INSERT INTO actor_outbox (id, from_kind, from_id, to_kind, to_id, message, created_at) VALUES ${placeholders(chunk.length, 7)}`,
        chunk.flatMap((r) => [r.id, r.fromKind, r.fromId, r.toKind, r.toId, r.message, r.createdAt]),
      );
    }
  },

  async deleteOutbox(manager: EntityManager, ids: string[]): Promise<void> {
    if (ids.length > 0) await manager.delete(ActorOutboxEntity, ids);
  },

  async pendingOutbox(manager: EntityManager, limit = 1000): Promise<ActorOutboxEntity[]> {
    return manager.createQueryBuilder(ActorOutboxEntity, 'o').orderBy('o.created_at', 'ASC').limit(limit).getMany();
  },

  /** Drops inbox rows older than `before` (epoch ms); returns how many. */
  async pruneInbox(manager: EntityManager, before: number): Promise<number> {
    const result = await manager.createQueryBuilder().delete().from(ActorInboxEntity).where('handled_at < :before', { before }).execute();
    return result.affected ?? 0;
  },
};

/** The actor's `actor_state` row at fence 0, unless it exists: the first of a claim's statements. */
function addStateRow(writes: WriteSet, address: Address, now: number): void {
  const insert = writes.dialect === 'mariadb' ? 'INSERT IGNORE' : 'INSERT OR IGNORE';
  writes.add(`${insert} INTO actor_state (kind, actor_id, fence, commits, updated_at) VALUES (?, ?, 0, 0, ?)`, [address.kind, address.id, now]);
}
