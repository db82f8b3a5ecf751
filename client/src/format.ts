/** Formatting of money, times and statuses for display. */
import type { DealStatus, OrderStatus } from './types';

const moneyFormats = new Map<string, Intl.NumberFormat>();

function moneyFormat(currency: string): Intl.NumberFormat {
  let format = moneyFormats.get(currency);
  if (!format) {
    format = new Intl.NumberFormat(undefined, { style: 'currency', currency });
    moneyFormats.set(currency, format);
  }
  return format;
}

/**
 * Formats an amount in minor units (won, cents) with its ISO 4217 currency. The number of minor
 * digits is the currency's own, from Intl: KRW has 0 (12900 -> "₩12,900"), USD 2 (1299 -> "$12.99").
 */
export function formatMoney(minor: number, currency: string): string {
  try {
    const format = moneyFormat(currency);
    const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
    return format.format(minor / 10 ** digits);
  } catch {
    return `${minor} ${currency}`; // an unknown currency code
  }
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** An ISO-8601 instant in the shopper's locale and time zone, e.g. "Mar 3, 2025, 10:00 AM". */
export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '—' : dateTime.format(date);
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * A countdown: "00:00:42", "01:05:00", or "2d 03:04:05" past a day. Negative durations are zero.
 * Rounds up, so the display reaches 00:00:00 exactly when the time is up.
 */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const days = Math.floor(total / 86400);
  const clock = `${pad(Math.floor((total % 86400) / 3600))}:${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
  return days > 0 ? `${days}d ${clock}` : clock;
}

/** A coarse duration for screen readers, which should not hear every second: "about 5 minutes". */
export function describeDuration(ms: number): string {
  const minutes = Math.round(ms / 60000);
  if (ms <= 0) return 'now';
  if (minutes < 1) return 'less than a minute';
  if (minutes < 60) return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `about ${hours} hour${hours === 1 ? '' : 's'}`;
  return `about ${Math.round(hours / 24)} days`;
}

/**
 * A waiting-room ETA in seconds, coarse on purpose (it is an estimate): "about 40 s",
 * "about 3 min", "about 2 h"; null (not measurable yet) gives "Estimating…".
 */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'Estimating…';
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return `about ${s} s`;
  if (s < 3600) return `about ${Math.ceil(s / 60)} min`;
  return `about ${Math.round(s / 3600)} h`;
}

/** Human names of deal states. */
export const dealStatusLabels: Record<DealStatus, string> = {
  scheduled: 'Upcoming',
  open: 'On sale',
  paused: 'Paused',
  sold_out: 'Sold out',
  ended: 'Ended',
  cancelled: 'Cancelled',
};

/** Human names of order states. */
export const orderStatusLabels: Record<OrderStatus, string> = {
  pending_payment: 'Awaiting payment',
  paid: 'Paid',
  cancelled: 'Cancelled',
  expired: 'Expired',
  refunded: 'Refunded',
};

/** Percentage off the original price, rounded down (0 when there is no discount). */
export function discountPercent(price: number, originalPrice: number): number {
  return originalPrice > price && originalPrice > 0 ? Math.floor(((originalPrice - price) / originalPrice) * 100) : 0;
}

/** The first characters of an id, for display ("#3f9a1c0e"). */
export function shortId(id: string): string {
  return `#${id.slice(0, 8)}`;
}
