/** A ticking clock for countdowns, in server time. */
import { onBeforeUnmount, onMounted, ref, watch, type Ref } from 'vue';
import { clockOffset, serverNow } from '../clock';

/**
 * The server's epoch ms, refreshed every `intervalMs` while the component is mounted, and at once
 * when the clock offset changes (a new snapshot arrived).
 */
export function useServerNow(intervalMs = 250): Ref<number> {
  const now = ref(serverNow());
  let timer: ReturnType<typeof setInterval> | undefined;
  onMounted(() => {
    timer = setInterval(() => (now.value = serverNow()), intervalMs);
  });
  onBeforeUnmount(() => clearInterval(timer));
  watch(clockOffset, () => (now.value = serverNow()));
  return now;
}
