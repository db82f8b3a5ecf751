import { randomUUID } from 'node:crypto';
import { accessTokenSigner } from '../../src/accounts/tokens';
import type { Role } from '../../src/http/schemas';
import { query } from './services';

export interface TestUser {
  id: string;
  token: string;
}

/**
 * Inserts `count` users with `roles` straight into the `users` table of `databaseUrl` (one
 * multi-row INSERT, no argon2) and signs each an access token with `jwtSecret`, exactly as the
 * server does (`accessTokenSigner`). For tests that need hundreds of shoppers, or a server that
 * runs in another process. The password hash is a placeholder: these users cannot log in.
 */
export async function insertUsers(databaseUrl: string, jwtSecret: string, count: number, roles: Role[] = ['shopper']): Promise<TestUser[]> {
  const sign = accessTokenSigner(jwtSecret, 3600);
  const now = Date.now();
  const users = Array.from({ length: count }, () => randomUUID());
  for (let i = 0; i < users.length; i += 500) {
    const rows = users.slice(i, i + 500).map((id) => [id, `${id}@users.test`, 'x', 'Test User', roles.join(','), now]);
    await query(databaseUrl, 'INSERT INTO users (id, email, password_hash, name, roles, created_at) VALUES ?', [rows]);
  }
  return users.map((id) => ({ id, token: sign(id, roles) }));
}
