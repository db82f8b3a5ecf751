import { createSigner } from 'fast-jwt';
import type { Role } from '../http/schemas';

/**
 * Signs an access token outside a running server (the `mint` command), exactly as the server's
 * `signAccessToken` does: HS256 with `JWT_SECRET`, claims `{ sub, roles, typ: 'access' }`.
 */
export function accessTokenSigner(secret: string, ttlSeconds: number): (userId: string, roles: Role[]) => string {
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: ttlSeconds * 1000 });
  return (userId, roles) => sign({ sub: userId, roles, typ: 'access' });
}
