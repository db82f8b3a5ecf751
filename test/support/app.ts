import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import type { Role } from '../../src/http/schemas';
import { createUser } from '../../src/accounts/accounts';
import { UNTHROTTLED } from './limits';

/** The configuration of a test server on `databaseUrl`, with overrides from `env`. */
export function testConfig(databaseUrl: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    DATABASE_URL: databaseUrl,
    DATA_DIR: mkdtempSync(join(tmpdir(), 'dealrush-test-')),
    DEMO_DATA: '0',
    SERVE_CLIENT: '0',
    LOG_LEVEL: 'silent',
    JWT_SECRET: 'test-secret-test-secret-test-secret-0123',
    ...UNTHROTTLED,
    ...env,
  });
}

/** A ready Dealrush app (not listening) on a MariaDB test database. */
export async function startTestApp(databaseUrl: string, env: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(databaseUrl, env), { logger: false });
  await app.ready();
  return app;
}

let counter = 0;
/** Creates a user with `roles` directly and returns their id and a fresh access token. */
export async function makeUser(app: FastifyInstance, roles: Role[] = ['shopper']): Promise<{ id: string; token: string; email: string }> {
  const email = `user${Date.now()}-${counter++}@test.dealrush.test`;
  const row = await createUser(app.db, { email, password: 'correct horse battery', name: 'Test User', roles });
  return { id: row!.id, email, token: app.signAccessToken(row!.id, roles) };
}

/** Creates a deal through the seller API; returns the Deal body. */
export async function makeDeal(app: FastifyInstance, sellerToken: string, over: Record<string, unknown> = {}): Promise<Record<string, any>> {
  const now = Date.now();
  const res = await app.inject({
    method: 'POST',
    url: '/api/seller/deals',
    headers: { authorization: `Bearer ${sellerToken}` },
    payload: {
      title: 'Test deal',
      description: 'A deal for tests',
      category: 'test',
      price: 1000,
      originalPrice: 2000,
      currency: 'KRW',
      totalStock: 10,
      perUserLimit: 2,
      startsAt: new Date(now - 1000).toISOString(),
      endsAt: new Date(now + 3_600_000).toISOString(),
      ...over,
    },
  });
  if (res.statusCode !== 201) throw new Error(`deal not created: ${res.statusCode} ${res.body}`);
  return res.json();
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
export const SHIPPING = { name: 'Kim Minji', phone: '010-1234-5678', line1: '1 Sejong-daero', postalCode: '04524', country: 'KR' };
