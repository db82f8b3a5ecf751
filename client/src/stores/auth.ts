/** Who is logged in: the user, login/signup/logout, and keeping tabs and the socket in step. */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { api, ApiError } from '../api';
import { accessToken, clearSession, isSessionKey, onSessionExpired, refreshToken, saveTokens, saveUser, storedUser } from '../session';
import { reconnectSocket } from '../socket';
import type { AuthSession, User } from '../types';

export const useAuthStore = defineStore('auth', () => {
  const user = ref<User | null>(accessToken() ? storedUser() : null);
  const loggedIn = computed(() => user.value !== null);

  function start(session: AuthSession): User {
    saveTokens(session);
    saveUser(session.user);
    user.value = session.user;
    reconnectSocket();
    return session.user;
  }

  /** `POST /api/auth/login`. Throws ApiError (`UNAUTHORIZED` for a wrong password, `ACCOUNT_LOCKED`). */
  async function login(email: string, password: string): Promise<User> {
    return start(await api<AuthSession>('/api/auth/login', { body: { email, password } }));
  }

  /** `POST /api/auth/signup`. Throws ApiError (`EMAIL_TAKEN`, `VALIDATION_FAILED`). */
  async function signup(name: string, email: string, password: string): Promise<User> {
    return start(await api<AuthSession>('/api/auth/signup', { body: { email, password, name } }));
  }

  /** Forgets the session in this browser only (the server already refused it). */
  function forget(): void {
    clearSession();
    user.value = null;
    reconnectSocket();
  }

  /**
   * `POST /api/auth/logout` with the refresh token (the server revokes it and every token rotated
   * from it; 204 whether or not it knew it), then forgets the session here. The session is cleared
   * even when the server cannot be reached: the access token expires by itself.
   */
  async function logout(): Promise<void> {
    const token = refreshToken();
    if (token) {
      try {
        await api<void>('/api/auth/logout', { body: { refreshToken: token } });
      } catch {
        // unreachable or refused: logging out here still happens
      }
    }
    forget();
  }

  /** `GET /api/me`: confirms the stored session on start-up. A dead session ends quietly. */
  async function me(): Promise<User | null> {
    if (!accessToken()) {
      user.value = null;
      return null;
    }
    try {
      const fresh = await api<User>('/api/me');
      saveUser(fresh);
      user.value = fresh;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) forget();
    }
    return user.value;
  }

  // The refresh token was refused (expired, revoked): drop to anonymous.
  onSessionExpired(() => {
    user.value = null;
    reconnectSocket();
  });

  // Another tab logged in or out.
  window.addEventListener('storage', (event) => {
    if (!isSessionKey(event.key)) return;
    const next = accessToken() ? storedUser() : null;
    if (next?.id !== user.value?.id) {
      user.value = next;
      reconnectSocket();
    }
  });

  return { user, loggedIn, login, signup, logout, me };
});
