/**
 * The wire types the client shares with the server (CONTRACT.md v1), re-exported in one place.
 * Type-only: nothing from ../src reaches the bundle (vite.config.ts fails the build if it would).
 */
import type { User } from '../../src/http/schemas';

export type {
  Cart,
  Deal,
  DealStatus,
  Hold,
  Order,
  OrderStatus,
  Payment,
  Problem,
  ShippingAddress,
  Ticket,
  User,
} from '../../src/http/schemas';
export type {
  ClientToServerEvents,
  DealSnapshot,
  DealStateEvent,
  DealStockEvent,
  OrderUpdatedEvent,
  QueueAdmittedEvent,
  QueueProgressEvent,
  ServerToClientEvents,
} from '../../src/realtime/events';

/** Answer of `POST /api/auth/login` and `POST /api/auth/signup`. */
export interface AuthSession {
  user: User;
  accessToken: string;
  refreshToken: string;
}

/** Answer of `POST /api/auth/refresh` (both tokens rotated). */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
}

/** A page of a cursor-paginated list, e.g. `GET /api/deals`. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
