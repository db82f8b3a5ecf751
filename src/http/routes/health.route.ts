import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

/** Liveness (the process answers) and readiness (its dependencies answer). */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const Health = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) });
  app.get('/health/live', { schema: { tags: ['operations'], response: { 200: Health } } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { tags: ['operations'], response: { 200: Health, 503: Health } } }, async (_request, reply) => {
    const database = (await app.db.ping()) ? 'ok' : 'down';
    const ready = database === 'ok';
    if (!ready) reply.code(503).header('retry-after', '2');
    return { status: ready ? 'ok' : 'unavailable', checks: { database } };
  });
};

export default healthRoutes;
