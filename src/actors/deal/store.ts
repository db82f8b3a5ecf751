import { Map as IMap } from 'immutable';
import { In, type EntityManager } from 'typeorm';
import { DealEntity } from '../../persistence/entities/deal.entity';
import { HoldEntity } from '../../persistence/entities/hold.entity';
import { TicketEntity } from '../../persistence/entities/ticket.entity';
import type { ActorStore } from '../runtime/actor';
import { placeholders } from '../../persistence/sql';
import type { WriteSet } from '../../persistence/write-set';
import { ActorRuntimeError } from '../runtime/errors';
import { HoldBook } from './hold-book';
import { emptyDealState, type DealState, type LiveHold, type SoldHold } from './state';
import type { DealChange } from './transition';
import { emptyQueueMeta, restoreWaitingRoom, type QueueMeta, type QueueTicket } from './waiting-room';

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

  async load(manager: EntityManager, id: string, now: number): Promise<DealState> {
    const row = await manager.findOne(DealEntity, { where: { id } });
    if (!row) return emptyDealState();
    const rows = await manager.find(HoldEntity, { where: { dealId: id, status: In(['active', 'ordered', 'sold']) } });
    const holds: LiveHold[] = [];
    const sold = new Map<string, SoldHold[]>();
    const perUser = new Map<string, number>();
    // Ended holds keep their ids (see DealState.endedHolds): only the ids and shoppers are read.
    const endedRows = (await manager.query(`SELECT id, user_id FROM holds WHERE deal_id = ? AND status NOT IN ('active', 'ordered')`, [id])) as Array<{ id: string; user_id: string }>;
    const endedHolds = IMap<string, string>().asMutable();
    for (const e of endedRows) endedHolds.set(e.id, e.user_id);
    for (const h of rows) {
      perUser.set(h.userId, (perUser.get(h.userId) ?? 0) + h.quantity);
      if (h.status === 'sold') {
        const list = sold.get(h.orderId!) ?? [];
        list.push({ id: h.id, userId: h.userId, quantity: h.quantity, orderId: h.orderId! });
        sold.set(h.orderId!, list);
        continue;
      }
      holds.push({ id: h.id, userId: h.userId, quantity: h.quantity, unitPrice: h.unitPrice, status: h.status as LiveHold['status'], orderId: h.orderId, expiresAt: h.expiresAt, createdAt: h.createdAt });
    }
    const book = HoldBook.of(holds);
    const { remainingStock, heldUnits, soldUnits, returnedUnits, status, queueState, ...rest } = row;
    const tickets = rest.waitingRoom.enabled || queueState ? await manager.find(TicketEntity, { where: { dealId: id } }) : [];
    return {
      ...emptyDealState(),
      deal: { ...rest, remainingStock, heldUnits, soldUnits, returnedUnits, status: status as NonNullable<DealState['deal']>['status'] },
      holds: book,
      sold: IMap(sold),
      perUser: IMap(perUser),
      endedHolds: endedHolds.asImmutable(),
      holdsReminderAt: book.nextReminderAt(),
      room: restoreWaitingRoom({ ...emptyQueueMeta(), ...(queueState as Partial<QueueMeta> | null) }, tickets.map(ticketFromRow), now),
    };
  },

  async save(writes: WriteSet, id: string, changes: unknown[], before: DealState, after: DealState, now: number): Promise<void> {
    const deal = after.deal!;
    const ops = changes as DealChange[];
    const queueState = JSON.stringify(after.room.meta);
    if (ops.some((c) => c.op === 'insertDeal')) {
      await (await writes.begin()).insert(DealEntity, { ...deal, queueState: after.room.meta });
    } else {
      const previous = before.deal!;
      const delta = deal.remainingStock - previous.remainingStock;
      writes.add(
        `UPDATE deals SET remaining_stock = remaining_stock + ?, held_units = ?, sold_units = ?, returned_units = ?, status = ?, seq = ?, waiting_room = ?, queue_state = ?, updated_at = ?
         WHERE id = ? AND remaining_stock = ? AND remaining_stock + ? >= 0`,
        [delta, deal.heldUnits, deal.soldUnits, deal.returnedUnits, deal.status, deal.seq, JSON.stringify(deal.waitingRoom), queueState, now, id, previous.remainingStock, delta],
        (affected) => (affected === 1 ? null : new ActorRuntimeError('STOCK_GUARD', `deal ${id}: stock write rejected (expected ${previous.remainingStock} remaining, change ${delta})`)),
      );
    }

    saveTickets(writes, id, ops, now);

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
      writes.add(
        `INSERT INTO holds (id, deal_id, user_id, quantity, unit_price, currency, status, order_id, expires_at, created_at, updated_at) VALUES ${placeholders(chunk.length, 11)}`,
        chunk.flatMap((h) => [h.id, h.dealId, h.userId, h.quantity, h.unitPrice, h.currency, h.status, h.orderId, h.expiresAt, h.createdAt, h.updatedAt]),
      );
    }
    // One statement per kind of patch, not per order: each hold's own order and expiry go in CASE
    // (a batch attaching the holds of many orders is one UPDATE).
    const groups = new Map<string, Array<[string, Partial<HoldEntity>]>>();
    for (const [holdId, patch] of patches) {
      const key = JSON.stringify([patch.status, patch.orderId !== undefined, patch.expiresAt !== undefined]);
      const group = groups.get(key) ?? [];
      group.push([holdId, patch]);
      groups.set(key, group);
    }
    for (const entries of groups.values()) {
      const { status, orderId, expiresAt } = entries[0][1];
      for (let i = 0; i < entries.length; i += CHUNK) {
        const chunk = entries.slice(i, i + CHUNK);
        const sets = ['status = ?', 'updated_at = ?'];
        const params: unknown[] = [status, now];
        const byHold = (column: string, value: (patch: Partial<HoldEntity>) => unknown) => {
          sets.push(`${column} = CASE id ${chunk.map(() => 'WHEN ? THEN ?').join(' ')} END`);
          for (const [holdId, patch] of chunk) params.push(holdId, value(patch));
        };
        if (orderId !== undefined) byHold('order_id', (p) => p.orderId);
        if (expiresAt !== undefined) byHold('expires_at', (p) => p.expiresAt);
        writes.add(`UPDATE holds SET ${sets.join(', ')} WHERE id IN (${chunk.map(() => '?').join(', ')})`, [...params, ...chunk.map(([holdId]) => holdId)]);
      }
    }
  },
};

function ticketFromRow(r: TicketEntity): QueueTicket {
  return {
    id: r.id,
    userId: r.userId,
    arrival: r.arrival,
    seq: r.seq,
    status: r.status as QueueTicket['status'],
    joinedAt: r.joinedAt,
    admittedAt: r.admittedAt,
    admissionExpiresAt: r.admissionExpiresAt,
    endedAt: r.endedAt,
    endReason: r.endReason as QueueTicket['endReason'],
  };
}

const TICKET_COLUMNS = ['id', 'deal_id', 'user_id', 'arrival', 'seq', 'status', 'joined_at', 'admitted_at', 'admission_expires_at', 'ended_at', 'end_reason', 'updated_at'];

/**
 * Writes the batch's ticket changes: new tickets as multi-row INSERTs; changed ones grouped by
 * their shared values (status, admission times) into one UPDATE per group and chunk, with the
 * per-ticket seq (the pre-queue shuffle numbers thousands at once) as one `CASE id` expression.
 */
function saveTickets(writes: WriteSet, dealId: string, ops: DealChange[], now: number): void {
  const inserts = new Map<string, QueueTicket>();
  const updates = new Map<string, QueueTicket>();
  for (const change of ops) {
    if (change.op === 'insertTicket') inserts.set(change.ticket.id, change.ticket);
    else if (change.op === 'updateTicket') {
      if (inserts.has(change.ticket.id)) inserts.set(change.ticket.id, change.ticket);
      else updates.set(change.ticket.id, change.ticket);
    }
  }
  const rows = [...inserts.values()];
  for (let i = 0; i < rows.length; i += CHUNK) {
    const chunk = rows.slice(i, i + CHUNK);
    writes.add(
      `INSERT INTO tickets (${TICKET_COLUMNS.join(', ')}) VALUES ${placeholders(chunk.length, TICKET_COLUMNS.length)}`,
      chunk.flatMap((t) => [t.id, dealId, t.userId, t.arrival, t.seq, t.status, t.joinedAt, t.admittedAt, t.admissionExpiresAt, t.endedAt, t.endReason, now]),
    );
  }
  const groups = new Map<string, QueueTicket[]>();
  for (const t of updates.values()) {
    const key = JSON.stringify([t.status, t.admittedAt, t.admissionExpiresAt, t.endedAt, t.endReason]);
    const group = groups.get(key);
    if (group) group.push(t);
    else groups.set(key, [t]);
  }
  for (const group of groups.values()) {
    const { status, admittedAt, admissionExpiresAt, endedAt, endReason } = group[0];
    for (let i = 0; i < group.length; i += CHUNK) {
      const chunk = group.slice(i, i + CHUNK);
      const ids = chunk.map((t) => t.id);
      writes.add(
        `UPDATE tickets SET status = ?, admitted_at = ?, admission_expires_at = ?, ended_at = ?, end_reason = ?, updated_at = ?,
           seq = CASE id ${chunk.map(() => 'WHEN ? THEN ?').join(' ')} END
         WHERE deal_id = ? AND id IN (${ids.map(() => '?').join(', ')})`,
        [status, admittedAt, admissionExpiresAt, endedAt, endReason, now, ...chunk.flatMap((t) => [t.id, t.seq]), dealId, ...ids],
      );
    }
  }
}
