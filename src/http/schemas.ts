import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * The wire shapes of CONTRACT.md v1 as TypeBox schemas: one definition gives request validation,
 * response serialization, the OpenAPI document at `/docs/json`, and (as `Static<>` types, imported
 * with `import type`) the client's API types.
 */

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const IsoTime = Type.String({ format: 'date-time', description: 'ISO-8601 UTC' });
const Id = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });
const Money = Type.Integer({ minimum: 0, maximum: 1_000_000_000_000, description: 'minor units (e.g. KRW won, USD cents)' });
const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' });

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ pattern: '^[A-Z_]+$' }),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { description: 'RFC 9457 problem details, content type application/problem+json' },
);
export type Problem = Static<typeof ProblemSchema>;

export const RoleSchema = Type.Union([Type.Literal('shopper'), Type.Literal('seller'), Type.Literal('admin')]);
export type Role = Static<typeof RoleSchema>;

export const UserSchema = Type.Object(
  { id: Id, email: Type.String(), name: Type.String(), roles: Type.Array(RoleSchema) },
);
export type User = Static<typeof UserSchema>;

export const DealStatusSchema = Type.Union(
  ['scheduled', 'open', 'paused', 'sold_out', 'ended', 'cancelled'].map((s) => Type.Literal(s)),
) as unknown as TSchema;
export type DealStatus = 'scheduled' | 'open' | 'paused' | 'sold_out' | 'ended' | 'cancelled';

export const WaitingRoomSchema = Type.Object({
  enabled: Type.Boolean(),
  admissionPerMinute: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  maxActive: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  /** Admission stopped by an admin (tickets are still taken). */
  paused: Type.Optional(Type.Boolean()),
});
export type WaitingRoom = Static<typeof WaitingRoomSchema>;

export const DealSchema = Type.Object(
  {
    id: Id,
    sellerId: Id,
    title: Type.String(),
    description: Type.String(),
    category: Type.String(),
    imageUrl: Nullable(Type.String()),
    price: Money,
    originalPrice: Money,
    currency: Currency,
    totalStock: Type.Integer(),
    remainingStock: Type.Integer({ description: 'units neither held nor sold' }),
    perUserLimit: Type.Integer(),
    startsAt: IsoTime,
    endsAt: IsoTime,
    status: Type.Union(['scheduled', 'open', 'paused', 'sold_out', 'ended', 'cancelled'].map((s) => Type.Literal(s))),
    waitingRoom: WaitingRoomSchema,
  },
);
export type Deal = Omit<Static<typeof DealSchema>, 'status'> & { status: DealStatus };

export const TicketSchema = Type.Object(
  {
    dealId: Id,
    status: Type.Union(['prequeue', 'waiting', 'admitted', 'expired'].map((s) => Type.Literal(s))),
    seq: Nullable(Type.Integer()),
    /** Tickets ahead; 0 once admitted; null in the pre-queue (the order is drawn at the start). */
    position: Nullable(Type.Integer()),
    etaSeconds: Nullable(Type.Number()),
    admission: Nullable(Type.Object({ token: Type.String(), expiresAt: IsoTime })),
  },
);
export type Ticket = Omit<Static<typeof TicketSchema>, 'status'> & { status: 'prequeue' | 'waiting' | 'admitted' | 'expired' };

export const HoldSchema = Type.Object(
  { id: Id, dealId: Id, quantity: Type.Integer(), unitPrice: Money, currency: Currency, expiresAt: IsoTime },
);
export type Hold = Static<typeof HoldSchema>;

export const CartSchema = Type.Object(
  { holds: Type.Array(HoldSchema), total: Money, currency: Nullable(Currency) },
);
export type Cart = Static<typeof CartSchema>;

export const OrderStatusValues = ['pending_payment', 'paid', 'cancelled', 'expired', 'refunded'] as const;
export type OrderStatus = (typeof OrderStatusValues)[number];

export const OrderSchema = Type.Object(
  {
    id: Id,
    status: Type.Union(OrderStatusValues.map((s) => Type.Literal(s))),
    items: Type.Array(Type.Object({ dealId: Id, quantity: Type.Integer(), unitPrice: Money })),
    total: Money,
    currency: Currency,
    createdAt: IsoTime,
    expiresAt: IsoTime,
    paidAt: Nullable(IsoTime),
    /** The payment the order is being (or was) paid with; null before any. */
    payment: Type.Optional(
      Nullable(
        Type.Object({
          id: Id,
          status: Type.Union(['pending', 'approved', 'declined', 'refund_pending', 'refunded'].map((s) => Type.Literal(s))),
          amount: Money,
          currency: Currency,
        }),
      ),
    ),
    /**
     * The order's refund: after a refund of a paid order (`requested`), or when a payment arrived
     * after the order expired or was cancelled (`late_payment`: given back automatically).
     */
    refund: Type.Optional(
      Nullable(
        Type.Object({
          status: Type.Union([Type.Literal('pending'), Type.Literal('refunded')]),
          reason: Type.String(),
          amount: Money,
          currency: Currency,
          refundedAt: Nullable(IsoTime),
        }),
      ),
    ),
  },
);
export type Order = Omit<Static<typeof OrderSchema>, 'status'> & { status: OrderStatus };

export const PaymentSchema = Type.Object(
  {
    paymentId: Id,
    orderId: Id,
    amount: Money,
    currency: Currency,
    status: Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('declined')]),
    checkoutUrl: Type.String(),
  },
);
export type Payment = Static<typeof PaymentSchema>;

export const SalesSchema = Type.Object(
  {
    dealId: Id,
    soldUnits: Type.Integer(),
    heldUnits: Type.Integer(),
    remainingStock: Type.Integer(),
    revenue: Money,
    currency: Currency,
    orders: Type.Integer(),
    waiting: Type.Integer(),
    admitted: Type.Integer(),
  },
);
export type Sales = Static<typeof SalesSchema>;

export const ShippingAddressSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100 }),
    phone: Type.String({ minLength: 3, maxLength: 32, pattern: '^[0-9+()\\- ]+$' }),
    line1: Type.String({ minLength: 1, maxLength: 200 }),
    line2: Type.Optional(Type.String({ maxLength: 200 })),
    postalCode: Type.String({ minLength: 1, maxLength: 16 }),
    country: Type.String({ pattern: '^[A-Z]{2}$', description: 'ISO 3166-1 alpha-2' }),
  },
  { additionalProperties: false },
);
export type ShippingAddress = Static<typeof ShippingAddressSchema>;

export const Schemas = { Nullable, IsoTime, Id, Money, Currency };
