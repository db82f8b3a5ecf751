/**
 * The live contract (CONTRACT.md, "Live events"), shared by the server and `client/`.
 * Event names are `resource:verb`. Every server event carries `at` (server epoch ms); deal-room
 * events carry the deal stream's `seq`, which rises by exactly one per event of that deal, so a
 * client that sees a gap re-fetches a snapshot (`deal:watch` again, or HTTP).
 *
 * Authentication: `io(url, { auth: { token } })`. A socket that sends no `token` key at all is
 * anonymous and may watch public deal rooms; a `token` that is empty, malformed, forged or expired
 * is refused with `connect_error` whose `data.code` is `"UNAUTHORIZED"`.
 */
import type { Deal, DealStatus, OrderStatus, Sales, Ticket } from '../http/schemas';

/** Acknowledgement of a client event: the answer, or a problem with a stable code. */
export type Ack<T> = (answer: T | { error: { code: string; detail: string } }) => void;

export interface DealSnapshot {
  deal: Deal;
  ticket: Ticket | null;
  /** Server epoch ms when the snapshot was taken: `serverTime - Date.now()` is the clock offset. */
  serverTime: number;
  /** The deal stream's seq at the snapshot: events with `seq <= this` are already reflected. */
  seq: number;
}

export interface ClientToServerEvents {
  'deal:watch': (payload: { dealId: string }, ack: Ack<DealSnapshot>) => void;
  'deal:unwatch': (payload: { dealId: string }, ack: Ack<{ ok: true }>) => void;
  'seller:watch': (payload: { dealId: string }, ack: Ack<Sales>) => void;
  /** Stops the `sales:tick` events of a deal (leaves `seller:deal:<id>`). */
  'seller:unwatch': (payload: { dealId: string }, ack: Ack<{ ok: true }>) => void;
  /**
   * Joins the admin ops room (admins only, checked against the database: `FORBIDDEN` otherwise);
   * the ack is a first snapshot, then `ops:snapshot` arrives every ~2 s.
   */
  'ops:watch': (payload: Record<string, never>, ack: Ack<OpsSnapshotEvent>) => void;
  'ops:unwatch': (payload: Record<string, never>, ack: Ack<{ ok: true }>) => void;
}

export interface DealStateEvent {
  dealId: string;
  status: DealStatus;
  remainingStock: number;
  startsAt: string;
  endsAt: string;
  seq: number;
  at: number;
}
export interface DealStockEvent {
  dealId: string;
  remainingStock: number;
  seq: number;
  at: number;
}
export interface QueueProgressEvent {
  dealId: string;
  servingSeq: number;
  waiting: number;
  admitted: number;
  /** The configured rate (a change shows in the next event). */
  admissionPerMinute: number;
  maxActive: number;
  /** Admissions per minute measured over the last minute: what a client's ETA should use. */
  outflowPerMinute: number | null;
  /** Tickets skipped so far because their shopper was gone. */
  skipped: number;
  /** Admission stopped by an admin. */
  paused: boolean;
  seq: number;
  at: number;
}
/**
 * A waiting shopper's place from one `queue:progress`: tickets ahead (`seq - servingSeq - 1`) and
 * the ETA in seconds at the measured outflow (null until something was admitted).
 */
export function queuePlace(ticketSeq: number, progress: Pick<QueueProgressEvent, 'servingSeq' | 'outflowPerMinute'>): { position: number; etaSeconds: number | null } {
  const position = Math.max(0, ticketSeq - progress.servingSeq - 1);
  const rate = progress.outflowPerMinute;
  return { position, etaSeconds: rate && rate > 0 ? Math.ceil((position + 1) / (rate / 60)) : null };
}

export interface QueueAdmittedEvent {
  dealId: string;
  token: string;
  expiresAt: string;
  at: number;
}
export interface OrderUpdatedEvent {
  orderId: string;
  status: OrderStatus;
  at: number;
}
/**
 * `sales:tick`, about once a second to `seller:deal:<id>` while anyone watches (`seller:watch`).
 * `revenue` is of paid orders, in minor units of `currency`; `ordersPerSecond` is paid orders per
 * second since the previous tick. `admitted` and `admittedTotal` (waiting room: live admissions,
 * and every admission since the start) were added to the contract's fields for the conversion.
 */
export interface SalesTickEvent {
  dealId: string;
  soldUnits: number;
  heldUnits: number;
  remainingStock: number;
  revenue: number;
  ordersPerSecond: number;
  waiting: number;
  at: number;
  currency: string;
  orders: number;
  admitted: number;
  admittedTotal: number;
}

/**
 * One node of the deployment as the ops panel shows it. Embedded mode has exactly one, owning
 * every actor (`partitions: null`); in cluster mode each node reports its own and the snapshot
 * lists them all.
 */
export interface OpsNode {
  nodeId: string;
  mode: 'embedded' | 'cluster';
  /** Mailbox partitions this node owns (`deal:3`); null when it owns every actor (embedded). */
  partitions: string[] | null;
  /** Epoch ms when the process started. */
  startedAt: number;
  uptimeSeconds: number;
  /** Live activations by actor kind (`deal`, `cart`, `order`). */
  activations: Record<string, number>;
  /** Messages waiting in mailboxes, by actor kind. */
  mailboxDepth: Record<string, number>;
  /** Actor messages handled per second, measured since the previous snapshot. */
  messagesPerSecond: number;
  /** Committed batches (group commits) per second, since the previous snapshot. */
  batchesPerSecond: number;
  /** Outbox effects being carried out (the in-process job queue). */
  outboxInFlight: number;
  /** socket.io connections on this node. */
  sockets: number;
  /** Resident memory, bytes. */
  rssBytes: number;
}
/** A live deal's figures in the ops snapshot (from its actor, as it is now). */
export interface OpsDeal {
  dealId: string;
  title: string;
  sellerId: string;
  status: DealStatus;
  currency: string;
  price: number;
  totalStock: number;
  remainingStock: number;
  soldUnits: number;
  heldUnits: number;
  waiting: number;
  admitted: number;
  startsAt: string;
  endsAt: string;
  waitingRoom: { enabled: boolean; admissionPerMinute: number; maxActive: number; paused: boolean };
}
/** `ops:snapshot`, to the admin ops room every ~2 s: the nodes and the deals that are not over. */
export interface OpsSnapshotEvent {
  nodes: OpsNode[];
  deals: OpsDeal[];
  at: number;
}

export interface ServerToClientEvents {
  'deal:state': (event: DealStateEvent) => void;
  'deal:stock': (event: DealStockEvent) => void;
  'queue:progress': (event: QueueProgressEvent) => void;
  'queue:admitted': (event: QueueAdmittedEvent) => void;
  'order:updated': (event: OrderUpdatedEvent) => void;
  'sales:tick': (event: SalesTickEvent) => void;
  'ops:snapshot': (event: OpsSnapshotEvent) => void;
}

/** What the auth middleware leaves on `socket.data`. */
export interface SocketData {
  userId: string | null;
  roles: string[];
}

/** Room names: one per deal stream, one per shopper. */
export const rooms = {
  deal: (dealId: string) => `deal:${dealId}`,
  user: (userId: string) => `user:${userId}`,
  sellerDeal: (dealId: string) => `seller:deal:${dealId}`,
  /** The admin ops panel's room. */
  ops: () => 'ops',
} as const;

/** The deal id of a `seller:deal:<id>` room name, or null for any other room. */
export function sellerDealOf(room: string): string | null {
  return room.startsWith('seller:deal:') ? room.slice('seller:deal:'.length) || null : null;
}
