/**
 * The waiting room from the shopper's side (CONTRACT.md "Waiting room"): the ticket of each deal,
 * the deal's latest `queue:progress`, and the admission token once it is the shopper's turn.
 *
 * Where each piece comes from: the ticket from `deal:watch` acknowledgements and
 * `POST`/`GET /api/deals/:id/queue[/me]`; the place (tickets ahead, ETA) from every `queue:progress`
 * through the shared `queuePlace`, so it moves live without polling; the admission from
 * `queue:admitted` or a ticket that comes back `admitted`. The ticket is re-read over HTTP only
 * when an event says it changed: the first progress after the start (places were drawn) and the
 * progress that reaches the shopper's number (admitted, or skipped if the event went missing).
 *
 * The admission and the place where the shopper started are kept in `sessionStorage`, per user and
 * deal, so a reload in this tab still buys with the token and draws the same progress bar.
 */
import { defineStore } from 'pinia';
import { ref, watch } from 'vue';
import { api, ApiError } from '../api';
import { serverNow } from '../clock';
import { queuePlace } from '../live-contract';
import type { QueueAdmittedEvent, QueueProgressEvent, Ticket } from '../types';
import { useAuthStore } from './auth';

/** A live admission: the `X-Admission-Token` for `POST /api/cart/items`, and when it ends. */
export interface Admission {
  token: string;
  /** ISO-8601. */
  expiresAt: string;
}

/** Where the shopper stands, for display. */
export interface QueueStanding {
  /** Tickets ahead; null in the pre-queue. */
  position: number | null;
  /** Seconds until admission at the measured outflow; null while it cannot be measured. */
  etaSeconds: number | null;
  /** Share of the tickets that were ahead when the shopper got a number, served since (0..1). */
  served: number | null;
  /** Admission stopped by an admin (the place is kept). */
  paused: boolean;
}

/** Why an admission was dropped, for the page to explain. */
export type QueueNotice = 'not_admitted' | 'admission_expired' | 'turn_over';

interface KeptAdmission extends Admission {
  userId: string;
  dealId: string;
}

/** How many tickets were ahead when the shopper was first seen with number `seq`. */
interface KeptStart {
  userId: string;
  dealId: string;
  seq: number;
  ahead: number;
}

const ADMISSIONS_KEY = 'dealrush.admissions';
const STARTS_KEY = 'dealrush.queueStarts';
/** Starts kept at most (oldest dropped): one per deal queued for in this tab. */
const MAX_STARTS = 50;

function readKept<T>(key: string): T[] {
  try {
    const value: unknown = JSON.parse(sessionStorage.getItem(key) ?? '[]');
    return Array.isArray(value) ? (value as T[]) : [];
  } catch {
    return [];
  }
}

function writeKept(key: string, value: unknown[]): void {
  try {
    sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage unavailable: kept for the life of the page only
  }
}

export const useQueueStore = defineStore('queue', () => {
  const auth = useAuthStore();
  /** The shopper's ticket by deal: undefined while unknown, null when they have none. */
  const tickets = ref<Record<string, Ticket | null>>({});
  /** The latest `queue:progress` by deal. */
  const progress = ref<Record<string, QueueProgressEvent>>({});
  const admissions = ref<KeptAdmission[]>(readKept<KeptAdmission>(ADMISSIONS_KEY));
  const starts = ref<KeptStart[]>(readKept<KeptStart>(STARTS_KEY));
  const notices = ref<Record<string, QueueNotice | null>>({});
  const reading = new Map<string, Promise<void>>();

  const userId = () => auth.user?.id ?? null;

  // Another shopper in this tab: what was known belongs to the previous one.
  watch(userId, () => {
    tickets.value = {};
    notices.value = {};
  });

  /** The shopper's live admission to `dealId`, or null (none, or past its end). */
  function admissionOf(dealId: string): Admission | null {
    const kept = admissions.value.find((a) => a.dealId === dealId && a.userId === userId());
    return kept && Date.parse(kept.expiresAt) > serverNow() ? { token: kept.token, expiresAt: kept.expiresAt } : null;
  }

  function keepAdmission(dealId: string, admission: Admission): void {
    const user = userId();
    if (!user) return;
    const now = serverNow();
    admissions.value = [
      ...admissions.value.filter((a) => !(a.dealId === dealId && a.userId === user) && Date.parse(a.expiresAt) > now),
      { userId: user, dealId, ...admission },
    ];
    writeKept(ADMISSIONS_KEY, admissions.value);
    notices.value[dealId] = null;
  }

  function dropAdmission(dealId: string): void {
    const user = userId();
    const left = admissions.value.filter((a) => !(a.dealId === dealId && a.userId === user));
    if (left.length === admissions.value.length) return;
    admissions.value = left;
    writeKept(ADMISSIONS_KEY, left);
  }

  function startOf(dealId: string, seq: number): KeptStart | undefined {
    return starts.value.find((s) => s.dealId === dealId && s.userId === userId() && s.seq === seq);
  }

  /** Remembers the first place seen for number `seq` (the progress bar's zero). */
  function keepStart(dealId: string, seq: number, ahead: number): void {
    const user = userId();
    if (!user || startOf(dealId, seq)) return;
    const others = starts.value.filter((s) => !(s.dealId === dealId && s.userId === user));
    starts.value = [...others.slice(-(MAX_STARTS - 1)), { userId: user, dealId, seq, ahead }];
    writeKept(STARTS_KEY, starts.value);
  }

  /**
   * Takes a ticket from the server (HTTP answer or `deal:watch` acknowledgement). A ticket that
   * says `waiting` while this tab holds a live admission is older than the `queue:admitted` that
   * brought it, and is not applied.
   */
  function setTicket(dealId: string, ticket: Ticket | null): void {
    if (!ticket) {
      tickets.value[dealId] = null;
      return;
    }
    if (ticket.status === 'admitted' && ticket.admission) keepAdmission(dealId, ticket.admission);
    if ((ticket.status === 'waiting' || ticket.status === 'prequeue') && admissionOf(dealId)) return;
    if (ticket.status === 'expired' && admissionOf(dealId)) {
      // Ended on the server (paid, left, revoked) while this tab still counted on it.
      dropAdmission(dealId);
      notices.value[dealId] = 'turn_over';
    }
    tickets.value[dealId] = ticket;
    if (ticket.status === 'waiting' && ticket.seq !== null && ticket.position !== null) keepStart(dealId, ticket.seq, ticket.position);
  }

  /** Applies one `queue:progress` (in the deal stream's order; the caller checks `seq`). */
  function applyProgress(event: QueueProgressEvent): void {
    progress.value[event.dealId] = event;
    const ticket = tickets.value[event.dealId];
    if (!ticket) return;
    if (ticket.status === 'prequeue') {
      void refresh(event.dealId); // the start's draw ran: the ticket has a number now
    } else if (ticket.status === 'waiting' && ticket.seq !== null) {
      if (event.servingSeq >= ticket.seq) void refresh(event.dealId); // reached: admitted or skipped
      else keepStart(event.dealId, ticket.seq, queuePlace(ticket.seq, event).position);
    }
  }

  /** Applies `queue:admitted` (the shopper's own room). */
  function applyAdmitted(event: QueueAdmittedEvent): void {
    const admission = { token: event.token, expiresAt: event.expiresAt };
    keepAdmission(event.dealId, admission);
    const ticket = tickets.value[event.dealId];
    tickets.value[event.dealId] = {
      dealId: event.dealId,
      seq: ticket?.seq ?? null,
      status: 'admitted',
      position: 0,
      etaSeconds: null,
      admission,
    };
  }

  /** Where the shopper stands in `dealId`'s queue, or null without a ticket. */
  function standing(dealId: string): QueueStanding | null {
    const ticket = tickets.value[dealId];
    if (!ticket) return null;
    const event = progress.value[dealId];
    const paused = event?.paused ?? false;
    if (ticket.status !== 'waiting' || ticket.seq === null) {
      return { position: ticket.position, etaSeconds: null, served: ticket.status === 'admitted' ? 1 : null, paused };
    }
    // The ticket and the event may be of different moments: a place only ever shrinks.
    const live = event ? queuePlace(ticket.seq, event) : null;
    const position = Math.min(ticket.position ?? Number.POSITIVE_INFINITY, live?.position ?? Number.POSITIVE_INFINITY);
    const etaSeconds = paused ? null : (live?.etaSeconds ?? ticket.etaSeconds);
    const start = startOf(dealId, ticket.seq);
    const served = start ? (start.ahead > 0 ? Math.min(1, Math.max(0, (start.ahead - position) / start.ahead)) : 1) : null;
    return { position: Number.isFinite(position) ? position : null, etaSeconds, served, paused };
  }

  /** `POST /api/deals/:id/queue`: takes a place, or gets the same one back. Throws ApiError. */
  async function join(dealId: string): Promise<Ticket> {
    const ticket = await api<Ticket>(`/api/deals/${encodeURIComponent(dealId)}/queue`, { method: 'POST' });
    notices.value[dealId] = null;
    setTicket(dealId, ticket);
    return ticket;
  }

  /**
   * `GET /api/deals/:id/queue/me` (one request at a time per deal). No ticket (404) forgets it;
   * other failures keep what is known, since a later event or watch brings it again.
   */
  function refresh(dealId: string): Promise<void> {
    let pending = reading.get(dealId);
    if (!pending) {
      pending = api<Ticket>(`/api/deals/${encodeURIComponent(dealId)}/queue/me`)
        .then((ticket) => setTicket(dealId, ticket))
        .catch((error: unknown) => {
          if (error instanceof ApiError && error.status === 404) setTicket(dealId, null);
        })
        .finally(() => reading.delete(dealId));
      reading.set(dealId, pending);
    }
    return pending;
  }

  /** `DELETE /api/deals/:id/queue`: gives the place (or the admission) up. Throws ApiError. */
  async function leave(dealId: string): Promise<void> {
    await api(`/api/deals/${encodeURIComponent(dealId)}/queue`, { method: 'DELETE' });
    dropAdmission(dealId);
    notices.value[dealId] = null;
    tickets.value[dealId] = null;
  }

  /** The server refused the token (`NOT_ADMITTED`): forget it and read the ticket again. */
  function rejectAdmission(dealId: string): void {
    dropAdmission(dealId);
    notices.value[dealId] = 'not_admitted';
    void refresh(dealId);
  }

  /** The admission's time ran out on this page's (server-corrected) clock. */
  function expireAdmission(dealId: string): void {
    dropAdmission(dealId);
    notices.value[dealId] = 'admission_expired';
    void refresh(dealId);
  }

  return {
    tickets,
    progress,
    notices,
    admissionOf,
    standing,
    setTicket,
    applyProgress,
    applyAdmitted,
    join,
    refresh,
    leave,
    rejectAdmission,
    expireAdmission,
  };
});
