import Fastify, { type FastifyInstance } from 'fastify';
import { MockGateway, type MockGatewayOptions } from './mock-gateway';
import { mockGatewayRoutes } from './mock-gateway.routes';

/**
 * The mock gateway as a server of its own (`npm run gateway`, and tests that want it apart from
 * the app). `publicUrl`: the origin in `checkoutUrl` (default: the origin each request came to).
 * `logger`: fastify's logger option (`{ level }`, or true for `info`: every request logged); off by
 * default.
 */
export async function buildGatewayServer(options: MockGatewayOptions & { publicUrl?: string | null; logger?: boolean | { level: string } }): Promise<{ app: FastifyInstance; gateway: MockGateway }> {
  const app = Fastify({ logger: options.logger ?? false, forceCloseConnections: true });
  const gateway = new MockGateway({ ...options, log: (obj, msg) => app.log.warn(obj, msg) });
  await app.register(mockGatewayRoutes, { gateway, publicUrl: options.publicUrl ?? null });
  app.get('/health', async () => ({ status: 'ok' }));
  app.addHook('onClose', async () => gateway.close());
  return { app, gateway };
}
