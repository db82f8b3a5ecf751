import { api } from './api';

/**
 * Opens the job queues (bull-board at /admin/queues) in this tab. A page load sends no bearer
 * token, so the server is first asked for a short-lived cookie scoped to /admin/queues
 * (`POST /api/admin/queues/session`, admins only).
 * @throws ApiError when the server refuses (not an admin, session expired).
 */
export async function openJobQueues(): Promise<void> {
  await api<void>('/api/admin/queues/session', { method: 'POST' });
  window.location.assign('/admin/queues');
}
