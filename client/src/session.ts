/**
 * The login session as kept in `localStorage` (so every tab shares it): the two tokens and the
 * last known user. Reads go to storage each time, so a rotation done by another tab is seen.
 * Storage may be unavailable (private mode, blocked cookies): then the session lives as long as
 * the page, in memory.
 */
import type { TokenPair, User } from './types';

const KEYS = {
  access: 'dealrush.accessToken',
  refresh: 'dealrush.refreshToken',
  user: 'dealrush.user',
} as const;

const memory = new Map<string, string>();

function read(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return memory.get(key) ?? null;
  }
}

function write(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    if (value === null) memory.delete(key);
    else memory.set(key, value);
  }
}

/** The current access token, or null when logged out. */
export function accessToken(): string | null {
  return read(KEYS.access);
}

/** The current refresh token, or null when logged out. */
export function refreshToken(): string | null {
  return read(KEYS.refresh);
}

/** Stores a fresh token pair (after login, signup or refresh). */
export function saveTokens(tokens: TokenPair): void {
  write(KEYS.access, tokens.accessToken);
  write(KEYS.refresh, tokens.refreshToken);
}

/** The user last returned by the server, to draw the header before `GET /api/me` answers. */
export function storedUser(): User | null {
  const raw = read(KEYS.user);
  if (!raw) return null;
  try {
    return JSON.parse(raw) as User;
  } catch {
    return null;
  }
}

/** Remembers the logged-in user (null forgets it). */
export function saveUser(user: User | null): void {
  write(KEYS.user, user ? JSON.stringify(user) : null);
}

/** Forgets tokens and user: the browser is anonymous afterwards. */
export function clearSession(): void {
  write(KEYS.access, null);
  write(KEYS.refresh, null);
  write(KEYS.user, null);
}

const expiredListeners = new Set<() => void>();

/** Calls `listener` whenever the session ends on its own (the refresh token was refused). */
export function onSessionExpired(listener: () => void): () => void {
  expiredListeners.add(listener);
  return () => expiredListeners.delete(listener);
}

/** Ends the session because the server refused it, and tells the listeners. */
export function expireSession(): void {
  clearSession();
  for (const listener of expiredListeners) listener();
}

/** True when `key` is one of the session's storage keys (for `storage` events from other tabs). */
export function isSessionKey(key: string | null): boolean {
  return key === null || Object.values(KEYS).includes(key as (typeof KEYS)[keyof typeof KEYS]);
}
