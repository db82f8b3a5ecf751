/**
 * A deal's live sales for its seller (or an admin): `seller:watch` answers a snapshot and joins the
 * deal's seller room, then `sales:tick` arrives about once a second. Every (re)connection watches
 * again, since rooms do not survive it. Keeps the last {@link HISTORY_SECONDS} of ticks for the chart.
 * No polling: while the socket is down the figures stay as they were and `live` is false.
 */
import { onBeforeUnmount, onMounted, ref, shallowRef, watch, type Ref } from 'vue';
import { getSocket, socketState } from '../socket';
import type { Sales, SalesTickEvent } from '../types';

/** How much of the past the chart shows. */
export const HISTORY_SECONDS = 300;
const WATCH_TIMEOUT_MS = 5000;
const RETRY_MS = 2000;

/** One point of the chart: server time (epoch ms) and paid orders per second. */
export interface SalesPoint {
  at: number;
  ordersPerSecond: number;
  soldUnits: number;
}

export interface LiveSales {
  /** The latest figures (snapshot, then ticks), or null until the first answer. */
  sales: Ref<(Sales & Partial<Pick<SalesTickEvent, 'ordersPerSecond' | 'admittedTotal' | 'at'>>) | null>;
  /** The ticks of the last {@link HISTORY_SECONDS}, oldest first. */
  points: Ref<SalesPoint[]>;
  /** A refusal (`FORBIDDEN`...) or a failure, as `{ code, detail }`. */
  error: Ref<{ code: string; detail: string } | null>;
  /** True once watching on the current connection. */
  live: Ref<boolean>;
}

export function useSalesTicks(dealId: Ref<string>): LiveSales {
  const socket = getSocket();
  const sales = shallowRef<LiveSales['sales']['value']>(null);
  const points = shallowRef<SalesPoint[]>([]);
  const error = ref<{ code: string; detail: string } | null>(null);
  const live = ref(false);
  let retry: ReturnType<typeof setTimeout> | undefined;
  let gen = 0;

  function start(): void {
    clearTimeout(retry);
    live.value = false;
    if (!socket.connected) return; // the `connect` handler starts it
    const mine = ++gen;
    const id = dealId.value;
    socket.timeout(WATCH_TIMEOUT_MS).emit('seller:watch', { dealId: id }, (err, answer) => {
      if (mine !== gen) return;
      if (err) {
        retry = setTimeout(start, RETRY_MS);
        return;
      }
      if ('error' in answer) {
        error.value = answer.error;
        return;
      }
      error.value = null;
      sales.value = { ...sales.value, ...answer };
      live.value = true;
    });
  }

  function onTick(tick: SalesTickEvent): void {
    if (tick.dealId !== dealId.value) return;
    sales.value = { ...(sales.value ?? { orders: 0, admitted: 0 }), ...tick } as LiveSales['sales']['value'];
    const since = tick.at - HISTORY_SECONDS * 1000;
    points.value = [...points.value.filter((p) => p.at >= since), { at: tick.at, ordersPerSecond: tick.ordersPerSecond, soldUnits: tick.soldUnits }];
  }

  function stop(id: string): void {
    gen++;
    clearTimeout(retry);
    if (socket.connected) socket.emit('seller:unwatch', { dealId: id }, () => undefined);
  }

  onMounted(() => {
    socket.on('sales:tick', onTick);
    socket.on('connect', start);
    start();
  });
  watch(dealId, (_next, previous) => {
    stop(previous);
    sales.value = null;
    points.value = [];
    start();
  });
  watch(
    () => socketState.connected,
    (connected) => {
      if (!connected) live.value = false;
    },
  );
  onBeforeUnmount(() => {
    socket.off('sales:tick', onTick);
    socket.off('connect', start);
    stop(dealId.value);
  });

  return { sales, points, error, live };
}
