/** Live `order:updated` events for the logged-in shopper (their own socket room). */
import { onBeforeUnmount, onMounted } from 'vue';
import { getSocket } from '../socket';
import type { OrderUpdatedEvent } from '../types';

/**
 * Calls `onUpdate` for every `order:updated` event while the component is mounted, and `onResync`
 * after every (re)connection, since events sent while disconnected are lost.
 */
export function useOrderUpdates(onUpdate: (event: OrderUpdatedEvent) => void, onResync: () => void): void {
  const socket = getSocket();
  onMounted(() => {
    socket.on('order:updated', onUpdate);
    socket.on('connect', onResync);
  });
  onBeforeUnmount(() => {
    socket.off('order:updated', onUpdate);
    socket.off('connect', onResync);
  });
}
