import { v7 as uuidv7 } from 'uuid';
import type { Database } from '../persistence/database';
import { SellerApplicationEntity } from '../persistence/entities/seller-application.entity';
import { grantRole } from './accounts';

export interface SellerApplicationInput {
  businessName: string;
  registrationNumber: string;
  contactName: string;
  contactEmail: string;
  contactPhone: string;
}

export type ApplyOutcome = { ok: true; application: SellerApplicationEntity } | { ok: false; reason: 'pending' | 'approved' };

/**
 * Seller onboarding, step one: a user applies. One application per user; a rejected one may be
 * sent again (the same row goes back to `pending`), a pending or approved one may not.
 */
export async function applyToSell(db: Database, userId: string, input: SellerApplicationInput, now = Date.now()): Promise<ApplyOutcome> {
  return db.transaction(async (m) => {
    const existing = await m.findOne(SellerApplicationEntity, { where: { userId } });
    if (existing && existing.status !== 'rejected') return { ok: false, reason: existing.status } as const;
    const application: SellerApplicationEntity = {
      id: existing?.id ?? uuidv7(),
      userId,
      businessName: input.businessName.trim(),
      registrationNumber: input.registrationNumber.trim(),
      contactName: input.contactName.trim(),
      contactEmail: input.contactEmail.trim().toLowerCase(),
      contactPhone: input.contactPhone.trim(),
      status: 'pending',
      decisionReason: null,
      decidedBy: null,
      decidedAt: null,
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    await m.save(SellerApplicationEntity, application);
    return { ok: true, application } as const;
  });
}

export type DecideOutcome = { ok: true; application: SellerApplicationEntity } | { ok: false; reason: 'not_found' | 'decided' };

/**
 * Seller onboarding, step two: an admin approves (the user gains the `seller` role in the same
 * transaction) or rejects (with a reason the applicant sees). Only a pending application.
 */
export async function decideApplication(
  db: Database,
  applicationId: string,
  decision: { approve: boolean; adminId: string; reason: string | null },
  now = Date.now(),
): Promise<DecideOutcome> {
  return db.transaction(async (m) => {
    const application = await m.findOne(SellerApplicationEntity, { where: { id: applicationId } });
    if (!application) return { ok: false, reason: 'not_found' } as const;
    if (application.status !== 'pending') return { ok: false, reason: 'decided' } as const;
    const decided = await m
      .createQueryBuilder()
      .update(SellerApplicationEntity)
      .set({ status: decision.approve ? 'approved' : 'rejected', decisionReason: decision.reason, decidedBy: decision.adminId, decidedAt: now, updatedAt: now })
      .where('id = :id AND status = :pending', { id: applicationId, pending: 'pending' })
      .execute();
    if (!decided.affected) return { ok: false, reason: 'decided' } as const;
    if (decision.approve) await grantRole(m, application.userId, 'seller');
    return {
      ok: true,
      application: { ...application, status: decision.approve ? 'approved' : 'rejected', decisionReason: decision.reason, decidedBy: decision.adminId, decidedAt: now, updatedAt: now },
    } as const;
  });
}
