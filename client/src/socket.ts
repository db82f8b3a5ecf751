/**
 * The one socket.io connection of the page, typed with the shared event maps
 * (src/realtime/events.ts). Authenticated with `auth: { token }` when logged in; anonymous sockets
 * send no `token` key at all. Call {@link reconnectSocket} when the user logs in or out.
 */
import { io, type Socket } from 'socket.io-client';
import { reactive } from 'vue';
import { refreshSession } from './api';
import { accessToken } from './session';
import type { ClientToServerEvents, ServerToClientEvents } from './types';

/** A socket speaking the Dealrush live contract. */
export type DealrushSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Connection state for the UI ("live" / "reconnecting"). */
export const socketState = reactive({ connected: false });

let socket: DealrushSocket | null = null;
/** Refresh attempts since the last successful connection, to never loop on a refused token. */
let authRetries = 0;

/** The shared socket, created (and connected) on first use. */
export function getSocket(): DealrushSocket {
  if (socket) return socket;
  const s: DealrushSocket = io({
    // A function, so every (re)connection sends the token current at that moment.
    auth: (cb) => {
      const token = accessToken();
      cb(token ? { token } : {});
    },
  });
  s.on('connect', () => {
    socketState.connected = true;
    authRetries = 0;
  });
  s.on('disconnect', () => {
    socketState.connected = false;
  });
  s.on('connect_error', (error) => {
    socketState.connected = false;
    const code = (error as Error & { data?: { code?: string } }).data?.code;
    // Transport errors are retried by socket.io itself; a refusal by the auth middleware is not.
    if (code === 'UNAUTHORIZED' && !s.active) void retryAfterRefusal(s);
  });
  socket = s;
  return s;
}

async function retryAfterRefusal(s: DealrushSocket): Promise<void> {
  if (++authRetries > 2) return;
  const token = accessToken();
  // A refused refresh ends the session: the next attempt is anonymous.
  const refreshed = token ? await refreshSession(token) : false;
  if (refreshed || !accessToken()) s.connect();
  else setTimeout(() => s.connect(), 5000);
}

/** Reconnects with the current credentials (after login or logout). */
export function reconnectSocket(): void {
  if (!socket) return;
  authRetries = 0;
  socket.disconnect();
  socket.connect();
}
