/**
 * Rate limits high enough never to bind: tests drive hundreds of shoppers from one address.
 * A test of the limits themselves sets its own (`RATE_LIMIT_*`) in `env`.
 */
export const UNTHROTTLED: Record<string, string> = Object.fromEntries(
  ['SIGNUP_PER_ADDRESS', 'LOGIN_PER_ADDRESS', 'LOGIN_PER_ACCOUNT', 'QUEUE_JOIN_PER_USER', 'QUEUE_JOIN_PER_ADDRESS', 'HOLDS_PER_USER', 'HOLDS_PER_ADDRESS'].map((k) => [`RATE_LIMIT_${k}`, '10000000']),
);
