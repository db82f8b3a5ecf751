import type { EntityManager } from 'typeorm';
import { ActorInboxEntity, ActorOutboxEntity, ActorReminderEntity, ActorStateEntity } from '../../persistence/entities/actor.entity';
import type { Address } from './actor';
import { execute } from '../../persistence/sql';
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

  /** The current fence (0 when the actor never ran). */
  async currentFence(manager: EntityManager, address: Address): Promise<number> {
    const row = await manager.findOne(ActorStateEntity, { where: { kind: address.kind, actorId: address.id } });
    return row?.fence ?? 0;
  },

  /**
   * First statement of every commit: touches the actor's row only if `fence` is still the newest
   * token. It also takes the row lock, so commits of two activations of one actor serialize here.
   * @throws FencedError when a newer activation exists.
   */
  async checkFence(manager: EntityManager, address: Address, fence: number, now: number): Promise<void> {
    const affected = await execute(manager, 'UPDATE actor_state SET commits = commits + 1, updated_at = ? WHERE kind = ? AND actor_id = ? AND fence = ?', [now, address.kind, address.id, fence]);
    if (affected !== 1) throw new FencedError(`${address.kind}:${address.id}`, fence);
  },

  async loadReminders(manager: EntityManager, address: Address): Promise<Map<string, number>> {
    const rows = await manager.find(ActorReminderEntity, { where: { kind: address.kind, actorId: address.id } });
    return new Map(rows.map((r) => [r.name, r.dueAt]));
  },

  async saveReminders(manager: EntityManager, address: Address, set: Map<string, number>, cleared: Set<string>): Promise<void> {
    for (const name of cleared) {
      await manager.delete(ActorReminderEntity, { kind: address.kind, actorId: address.id, name });
    }
    if (set.size > 0) {
      const rows = [...set].map(([name, dueAt]) => ({ kind: address.kind, actorId: address.id, name, dueAt }));
      await manager.upsert(ActorReminderEntity, rows, ['kind', 'actorId', 'name']);
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

  async recordInbox(manager: EntityManager, address: Address, entries: Array<{ id: string; reply: unknown }>, now: number): Promise<void> {
    for (let i = 0; i < entries.length; i += 500) {
      await manager
        .createQueryBuilder()
        .insert()
        .into(ActorInboxEntity)
        .values(
          entries.slice(i, i + 500).map((e) => ({
            kind: address.kind,
            actorId: address.id,
            messageId: e.id,
            reply: e.reply === undefined ? null : JSON.stringify(e.reply),
            handledAt: now,
          })),
        )
        .execute();
    }
  },

  async writeOutbox(manager: EntityManager, rows: ActorOutboxEntity[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 500) {
      await manager.createQueryBuilder().insert().into(ActorOutboxEntity).values(rows.slice(i, i + 500)).execute();
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
