import type { TicketInfo } from '../actors/deal/messages';
import type { AdmissionTokens } from '../waiting-room/admission-tokens';
import type { Ticket } from './schemas';

/**
 * A ticket as the contract shows it. The admission token is signed here, on the way out, from the
 * admission the deal actor recorded (the actor holds no keys). `etaSeconds` comes from the measured
 * outflow (admissions per minute over the last minute), not the configured rate; null before
 * anyone was admitted, in the pre-queue, and after admission.
 */
export async function ticketView(info: TicketInfo, admissions: AdmissionTokens, now = Date.now()): Promise<Ticket> {
  const t = info.ticket;
  const live = t.status === 'admitted' && t.admissionExpiresAt !== null && t.admissionExpiresAt > now;
  const status: Ticket['status'] = t.status === 'prequeue' ? 'prequeue' : t.status === 'waiting' ? 'waiting' : live ? 'admitted' : 'expired';
  const position = status === 'waiting' ? info.position : status === 'prequeue' ? null : 0;
  const etaSeconds = status === 'waiting' && position !== null && info.outflowPerMinute ? Math.ceil((position + 1) / (info.outflowPerMinute / 60)) : null;
  return {
    dealId: info.dealId,
    status,
    seq: t.seq,
    position,
    etaSeconds,
    admission: live
      ? { token: await admissions.sign({ userId: t.userId, dealId: info.dealId, expiresAt: t.admissionExpiresAt! }), expiresAt: new Date(t.admissionExpiresAt!).toISOString() }
      : null,
  };
}
