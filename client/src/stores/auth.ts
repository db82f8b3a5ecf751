/** Who is logged in: the user, login/signup/logout, and keeping tabs and the socket in step. */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import { api, ApiError } from '../api';
import { accessToken, clearSession, isSessionKey, onSessionExpired, saveTokens, saveUser, storedUser } from '../session';
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

  /** Forgets the session in this browser (tokens are short-lived; there is no server call). */
  function logout(): void {
    clearSession();
    user.value = null;
    reconnectSocket();
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
      if (error instanceof ApiError && error.status === 401) logout();
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
