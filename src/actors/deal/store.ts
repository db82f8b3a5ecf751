import { Map as IMap } from 'immutable';
import { In, type EntityManager } from 'typeorm';
import { DealEntity } from '../../persistence/entities/deal.entity';
import { HoldEntity } from '../../persistence/entities/hold.entity';
import type { ActorStore } from '../runtime/actor';
import { execute, placeholders } from '../../persistence/sql';
import { ActorRuntimeError } from '../runtime/errors';
import { emptyDealState, type DealState, type LiveHold, type SoldHold } from './state';
import type { DealChange } from './transition';

const CHUNK = 500;

/**
 * Loads a deal actor from its rows (the deal, its live and sold holds) and saves a batch of
 * changes: one guarded UPDATE of the deal row, multi-row INSERTs of new holds and one UPDATE per
 * group of hold rows that moved to the same status. The stock write is conditional on the stock the
 * activation last saw (`remaining_stock = ?`) and on the result staying non-negative, on top of the
 * runtime's fencing check.
 */
export const dealStore: ActorStore<DealState> = {
  exists: (state) => state.deal !== null,

  async load(manager: EntityManager, id: string): Promise<DealState> {
    const row = await manager.findOne(DealEntity, { where: { id } });
    if (!row) return emptyDealState();
    const rows = await manager.find(HoldEntity, { where: { dealId: id, status: In(['active', 'ordered', 'sold']) } });
    let holds = IMap<string, LiveHold>().asMutable();
    const sold = new Map<string, SoldHold[]>();
    const perUser = new Map<string, number>();
    let holdsReminderAt: number | null = null;
    for (const h of rows) {
      perUser.set(h.userId, (perUser.get(h.userId) ?? 0) + h.quantity);
      if (h.status === 'sold') {
        const list = sold.get(h.orderId!) ?? [];
        list.push({ id: h.id, userId: h.userId, quantity: h.quantity, orderId: h.orderId! });
        sold.set(h.orderId!, list);
        continue;
      }
      holds = holds.set(h.id, { id: h.id, userId: h.userId, quantity: h.quantity, unitPrice: h.unitPrice, status: h.status as LiveHold['status'], orderId: h.orderId, expiresAt: h.expiresAt, createdAt: h.createdAt });
      if (holdsReminderAt === null || h.expiresAt < holdsReminderAt) holdsReminderAt = h.expiresAt;
    }
    const { remainingStock, heldUnits, soldUnits, returnedUnits, status, ...rest } = row;
    return {
      ...emptyDealState(),
      deal: { ...rest, remainingStock, heldUnits, soldUnits, returnedUnits, status: status as NonNullable<DealState['deal']>['status'] },
      holds: holds.asImmutable(),
      sold: IMap(sold),
      perUser: IMap(perUser),
      holdsReminderAt,
    };
  },

  async save(manager: EntityManager, id: string, changes: unknown[], before: DealState, after: DealState, now: number): Promise<void> {
    const deal = after.deal!;
    const ops = changes as DealChange[];
    if (ops.some((c) => c.op === 'insertDeal')) {
      await manager.insert(DealEntity, { ...deal });
    } else {
      const previous = before.deal!;
      const delta = deal.remainingStock - previous.remainingStock;
      const affected = await execute(
        manager,
        `UPDATE deals SET remaining_stock = remaining_stock + ?, held_units = ?, sold_units = ?, returned_units = ?, status = ?, seq = ?, waiting_room = ?, updated_at = ?
         WHERE id = ? AND remaining_stock = ? AND remaining_stock + ? >= 0`,
        [delta, deal.heldUnits, deal.soldUnits, deal.returnedUnits, deal.status, deal.seq, JSON.stringify(deal.waitingRoom), now, id, previous.remainingStock, delta],
      );
      if (affected !== 1) {
        throw new ActorRuntimeError('STOCK_GUARD', `deal ${id}: stock write rejected (expected ${previous.remainingStock} remaining, change ${delta})`);
      }
    }

    // Collapse the batch's hold changes to one final row or patch per hold.
    const inserts = new Map<string, HoldEntity>();
    const patches = new Map<string, Partial<HoldEntity>>();
    for (const change of ops) {
      if (change.op === 'insertHold') {
        const h = change.hold;
        inserts.set(h.id, { id: h.id, dealId: id, userId: h.userId, quantity: h.quantity, unitPrice: h.unitPrice, currency: deal.currency, status: h.status, orderId: h.orderId, expiresAt: h.expiresAt, createdAt: h.createdAt, updatedAt: now });
      } else if (change.op === 'updateHold') {
        const patch: Partial<HoldEntity> = { status: change.status };
        if (change.orderId !== undefined) patch.orderId = change.orderId;
        if (change.expiresAt !== undefined) patch.expiresAt = change.expiresAt;
        const inserted = inserts.get(change.id);
        if (inserted) Object.assign(inserted, patch);
        else patches.set(change.id, { ...patches.get(change.id), ...patch });
      }
    }
    const rows = [...inserts.values()];
    for (let i = 0; i < rows.length; i += CHUNK) {
      const chunk = rows.slice(i, i + CHUNK);
      await execute(
        manager,
        `INSERT INTO holds (id, deal_id, user_id, quantity, unit_price, currency, status, order_id, expires_at, created_at, updated_at) VALUES ${placeholders(chunk.length, 11)}`,
        chunk.flatMap((h) => [h.id, h.dealId, h.userId, h.quantity, h.unitPrice, h.currency, h.status, h.orderId, h.expiresAt, h.createdAt, h.updatedAt]),
      );
    }
    const groups = new Map<string, { patch: Partial<HoldEntity>; ids: string[] }>();
    for (const [holdId, patch] of patches) {
      const key = JSON.stringify([patch.status, patch.orderId, patch.expiresAt]);
      const group = groups.get(key) ?? { patch, ids: [] };
      group.ids.push(holdId);
      groups.set(key, group);
    }
    for (const { patch, ids } of groups.values()) {
      for (let i = 0; i < ids.length; i += CHUNK) {
        const chunk = ids.slice(i, i + CHUNK);
        const sets = ['status = ?', 'updated_at = ?'];
        const params: unknown[] = [patch.status, now];
        if (patch.orderId !== undefined) (sets.push('order_id = ?'), params.push(patch.orderId));
        if (patch.expiresAt !== undefined) (sets.push('expires_at = ?'), params.push(patch.expiresAt));
        await execute(manager, `UPDATE holds SET ${sets.join(', ')} WHERE id IN (${chunk.map(() => '?').join(', ')})`, [...params, ...chunk]);
      }
    }
  },
};
