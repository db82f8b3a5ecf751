/**
 * The wire types the client shares with the server (CONTRACT.md v1), re-exported in one place.
 * Type-only: nothing from ../src reaches the bundle (vite.config.ts fails the build if it would).
 */
import type { Deal, Order, User } from '../../src/http/schemas';

export type {
  Cart,
  Deal,
  DealStatus,
  Hold,
  Order,
  OrderStatus,
  Payment,
  Problem,
  Sales,
  ShippingAddress,
  Ticket,
  User,
} from '../../src/http/schemas';
export type {
  ClientToServerEvents,
  DealSnapshot,
  DealStateEvent,
  DealStockEvent,
  OpsDeal,
  OpsNode,
  OpsSnapshotEvent,
  OrderUpdatedEvent,
  QueueAdmittedEvent,
  QueueProgressEvent,
  SalesTickEvent,
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

/*
 * Admin and seller answers. Their TypeBox schemas live in the route files (admin-users.route.ts,
 * seller-onboarding.route.ts, admin-orders.route.ts), which import server code; restated here so
 * that the client's type check does not reach into it.
 */

/** `GET /api/admin/users` item. */
export interface AdminUser {
  id: string;
  email: string;
  name: string;
  roles: Array<'shopper' | 'seller' | 'admin'>;
  status: 'active' | 'suspended';
  createdAt: string;
  suspendedAt: string | null;
  lockedUntil: string | null;
}

/** `GET /api/admin/seller-applications` item. */
export interface SellerApplication {
  id: string;
  userId: string;
  businessName: string;
  registrationNumber: string;
  contactName: string;
  contactEmail: string;
  contactPhone: string;
  status: 'pending' | 'approved' | 'rejected';
  decisionReason: string | null;
  createdAt: string;
  decidedAt: string | null;
}

/** `GET /api/admin/orders` item: an order, and whose it is. */
export type AdminOrder = Order & {
  userId: string;
  userEmail: string | null;
};

/** `GET /api/seller/sales-history` item. */
export interface SalesHistoryRow {
  deal: Deal;
  paidOrders: number;
  paidUnits: number;
  revenue: number;
  refundedOrders: number;
}

/** `GET /api/admin/payments/flagged` item (admin-payments.route.ts). */
export interface FlaggedPayment {
  paymentId: string;
  orderId: string;
  amount: number;
  currency: string;
  status: string;
  flag: string;
  reported: { eventId: string; type: string; amount: number; currency: string; receivedAt: string } | null;
  createdAt: string;
  updatedAt: string;
}
