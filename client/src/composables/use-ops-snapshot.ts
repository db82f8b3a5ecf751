/**
 * The admin ops room: `ops:watch` (admins only) answers a first snapshot, then `ops:snapshot`
 * arrives every ~2 s. Every (re)connection watches again. No polling loop: while the socket is
 * down the page shows the last snapshot and says it is not live.
 */
import { onBeforeUnmount, onMounted, ref, shallowRef, type Ref } from 'vue';
import { getSocket } from '../socket';
import type { OpsSnapshotEvent } from '../types';

const WATCH_TIMEOUT_MS = 5000;
const RETRY_MS = 2000;

export interface LiveOps {
  snapshot: Ref<OpsSnapshotEvent | null>;
  error: Ref<{ code: string; detail: string } | null>;
  live: Ref<boolean>;
  /** Applies a change made on this page at once, before the next snapshot confirms it. */
  patchDeal(dealId: string, changes: Partial<OpsSnapshotEvent['deals'][number]>): void;
}

export function useOpsSnapshot(): LiveOps {
  const socket = getSocket();
  const snapshot = shallowRef<OpsSnapshotEvent | null>(null);
  const error = ref<{ code: string; detail: string } | null>(null);
  const live = ref(false);
  let retry: ReturnType<typeof setTimeout> | undefined;

  function start(): void {
    clearTimeout(retry);
    live.value = false;
    if (!socket.connected) return;
    socket.timeout(WATCH_TIMEOUT_MS).emit('ops:watch', {}, (err, answer) => {
      if (err) {
        retry = setTimeout(start, RETRY_MS);
        return;
      }
      if ('error' in answer) {
        error.value = answer.error;
        return;
      }
      error.value = null;
      snapshot.value = answer;
      live.value = true;
    });
  }

  function onSnapshot(event: OpsSnapshotEvent): void {
    snapshot.value = event;
    live.value = true;
  }
  const onDisconnect = () => (live.value = false);

  function patchDeal(dealId: string, changes: Partial<OpsSnapshotEvent['deals'][number]>): void {
    const current = snapshot.value;
    if (!current) return;
    snapshot.value = { ...current, deals: current.deals.map((d) => (d.dealId === dealId ? { ...d, ...changes } : d)) };
  }

  onMounted(() => {
    socket.on('ops:snapshot', onSnapshot);
    socket.on('connect', start);
    socket.on('disconnect', onDisconnect);
    start();
  });
  onBeforeUnmount(() => {
    clearTimeout(retry);
    socket.off('ops:snapshot', onSnapshot);
    socket.off('connect', start);
    socket.off('disconnect', onDisconnect);
    if (socket.connected) socket.emit('ops:unwatch', {}, () => undefined);
  });

  return { snapshot, error, live, patchDeal };
}
