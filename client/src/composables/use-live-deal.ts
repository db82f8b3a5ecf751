/**
 * One deal kept live on its page: a `deal:watch` snapshot, then the deal room's events applied in
 * `seq` order. Rules (CONTRACT.md "Live events"): an event with `seq <= lastSeq` is already in the
 * snapshot and is ignored; one with `seq > lastSeq + 1` means events were missed, so the deal is
 * watched again for a fresh snapshot; every (re)connection watches again, since rooms do not
 * survive it. Events that arrive while a watch is in flight are held and replayed after it.
 * HTTP (`GET /api/deals/:id`) paints the page first and takes over while the socket is down:
 * correctness never depends on a socket message arriving.
 *
 * The waiting room's part (the shopper's ticket, `queue:progress`, `queue:admitted`) goes to the
 * queue store, which keeps it per deal; while the socket is down the same fallback re-reads the
 * ticket over HTTP.
 */
import { computed, onBeforeUnmount, onMounted, ref, watch, type ComputedRef, type Ref } from 'vue';
import { ApiError } from '../api';
import { recordServerTime } from '../clock';
import { getSocket, socketState } from '../socket';
import { useAuthStore } from '../stores/auth';
import { useDealsStore } from '../stores/deals';
import { useQueueStore } from '../stores/queue';
import type { Deal, DealStateEvent, DealStockEvent, QueueAdmittedEvent, QueueProgressEvent, Ticket } from '../types';

const WATCH_TIMEOUT_MS = 5000;
const WATCH_RETRY_MS = 2000;
const HTTP_POLL_MS = 5000;

/** What {@link useLiveDeal} gives the page. */
export interface LiveDeal {
  deal: ComputedRef<Deal | null>;
  /** The shopper's waiting-room ticket, when logged in and the deal has a waiting room. */
  ticket: ComputedRef<Ticket | null>;
  /** The latest `queue:progress` of the deal. */
  queue: ComputedRef<QueueProgressEvent | null>;
  /** The admission token to send with `POST /api/cart/items`, while admitted. */
  admissionToken: ComputedRef<string | null>;
  /** True until the deal is first known (or known not to exist). */
  loading: Ref<boolean>;
  /** Why the deal could not be shown (`ApiError` with `NOT_FOUND`, network...), or null. */
  error: Ref<unknown>;
  /** True while the page follows the deal's live stream. */
  live: ComputedRef<boolean>;
  /** Stores a ticket obtained over HTTP (joining the waiting room). */
  setTicket(ticket: Ticket): void;
}

interface SeqEvent {
  dealId: string;
  seq: number;
}

/** An event received while a watch was in flight, to replay after the snapshot. */
interface HeldEvent {
  event: SeqEvent;
  apply: () => void;
}

/** Keeps the deal `dealId` live while the calling component is mounted. */
export function useLiveDeal(dealId: Ref<string>): LiveDeal {
  const deals = useDealsStore();
  const auth = useAuthStore();
  const queueStore = useQueueStore();
  const socket = getSocket();

  const deal = computed(() => deals.byId[dealId.value] ?? null);
  const loading = ref(true);
  const error = ref<unknown>(null);
  /** A snapshot of this deal was applied on the current connection: events can be trusted. */
  const watching = ref(false);

  let lastSeq = 0;
  /** Events received while a watch is in flight (null when none is). */
  let held: HeldEvent[] | null = null;
  /** Bumped when answers in flight become stale: another deal, or the page left. */
  let dealGen = 0;
  /** Bumped when watches in flight become stale: the above, or a new connection. */
  let streamGen = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let pollTimer: ReturnType<typeof setInterval> | undefined;

  async function watchDeal(): Promise<void> {
    if (!socket.connected || held) return;
    const id = dealId.value;
    const gen = streamGen;
    const mine: HeldEvent[] = [];
    held = mine;
    watching.value = false;
    const sentAt = performance.now();
    try {
      const answer = await socket.timeout(WATCH_TIMEOUT_MS).emitWithAck('deal:watch', { dealId: id });
      if (gen !== streamGen) return;
      if ('error' in answer) {
        const { code, detail } = answer.error;
        if (!deal.value) error.value = new ApiError(code === 'NOT_FOUND' ? 404 : 400, code, detail);
        loading.value = false;
        return;
      }
      recordServerTime(answer.serverTime, performance.now() - sentAt);
      deals.upsert(answer.deal);
      if (auth.loggedIn) queueStore.setTicket(id, answer.ticket);
      lastSeq = answer.seq;
      watching.value = true;
      error.value = null;
      loading.value = false;
      held = null;
      for (const { event, apply } of mine.sort((a, b) => a.event.seq - b.event.seq)) receive(event, apply);
    } catch {
      // No acknowledgement in time: try again while still relevant.
      if (gen === streamGen) retryTimer = setTimeout(() => void watchDeal(), WATCH_RETRY_MS);
    } finally {
      if (held === mine) held = null;
    }
  }

  function receive(event: SeqEvent, apply: () => void): void {
    if (event.dealId !== dealId.value) return;
    if (held) {
      held.push({ event, apply });
      return;
    }
    if (!watching.value || event.seq <= lastSeq) return;
    if (event.seq !== lastSeq + 1) {
      void watchDeal(); // a gap: the snapshot will include what was missed
      return;
    }
    lastSeq = event.seq;
    apply();
  }

  async function loadOverHttp(): Promise<void> {
    const id = dealId.value;
    const gen = dealGen;
    if (auth.loggedIn && deal.value?.waitingRoom.enabled && queueStore.tickets[id]) void queueStore.refresh(id);
    try {
      const fresh = await deals.load(id);
      if (gen !== dealGen || watching.value) return; // the live stream is newer
      deals.upsert(fresh);
      error.value = null;
    } catch (e) {
      if (gen === dealGen && !deal.value) error.value = e;
    } finally {
      if (gen === dealGen) loading.value = false;
    }
  }

  /** Forgets the stream state; watches in flight are dropped. */
  function resetStream(): void {
    streamGen++;
    held = null;
    watching.value = false;
    lastSeq = 0;
    clearTimeout(retryTimer);
  }

  function start(): void {
    dealGen++;
    resetStream();
    error.value = null;
    loading.value = !deal.value;
    void loadOverHttp();
    void watchDeal();
  }

  function stop(): void {
    dealGen++;
    resetStream();
  }

  function unwatch(id: string): void {
    if (socket.connected) socket.emit('deal:unwatch', { dealId: id }, () => undefined);
  }

  const onState = (e: DealStateEvent) =>
    receive(e, () =>
      deals.patch(e.dealId, { status: e.status, remainingStock: e.remainingStock, startsAt: e.startsAt, endsAt: e.endsAt }),
    );
  const onStock = (e: DealStockEvent) => receive(e, () => deals.patch(e.dealId, { remainingStock: e.remainingStock }));
  const onQueue = (e: QueueProgressEvent) => receive(e, () => queueStore.applyProgress(e));
  const onAdmitted = (e: QueueAdmittedEvent) => queueStore.applyAdmitted(e);
  const onConnect = () => {
    resetStream();
    void watchDeal();
  };
  const onDisconnect = () => {
    watching.value = false;
  };

  onMounted(() => {
    socket.on('deal:state', onState);
    socket.on('deal:stock', onStock);
    socket.on('queue:progress', onQueue);
    socket.on('queue:admitted', onAdmitted);
    socket.on('connect', onConnect);
    socket.on('disconnect', onDisconnect);
    pollTimer = setInterval(() => {
      if (!watching.value) void loadOverHttp();
    }, HTTP_POLL_MS);
    start();
  });

  onBeforeUnmount(() => {
    unwatch(dealId.value);
    stop();
    clearInterval(pollTimer);
    socket.off('deal:state', onState);
    socket.off('deal:stock', onStock);
    socket.off('queue:progress', onQueue);
    socket.off('queue:admitted', onAdmitted);
    socket.off('connect', onConnect);
    socket.off('disconnect', onDisconnect);
  });

  watch(dealId, (_next, previous) => {
    unwatch(previous);
    start();
  });

  return {
    deal,
    ticket: computed(() => queueStore.tickets[dealId.value] ?? null),
    queue: computed(() => queueStore.progress[dealId.value] ?? null),
    admissionToken: computed(() => queueStore.admissionOf(dealId.value)?.token ?? null),
    loading,
    error,
    live: computed(() => watching.value && socketState.connected),
    setTicket: (t: Ticket) => queueStore.setTicket(t.dealId, t),
  };
}
