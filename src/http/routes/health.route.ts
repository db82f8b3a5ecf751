import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

/** Liveness (the process answers) and readiness (its dependencies answer). */
const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const Health = Type.Object({ status: Type.String(), checks: Type.Optional(Type.Record(Type.String(), Type.String())) });
  app.get('/health/live', { schema: { tags: ['operations'], response: { 200: Health } } }, async () => ({ status: 'ok' }));
  app.get('/health/ready', { schema: { tags: ['operations'], response: { 200: Health, 503: Health } } }, async (_request, reply) => {
    const [database, redis] = await Promise.all([app.db.ping().then((up) => (up ? 'ok' : 'down')), app.cluster ? app.cluster.ping().then((up) => (up ? 'ok' : 'down')) : null]);
    const checks: Record<string, string> = { database };
    if (redis !== null) {
      checks.redis = redis;
      checks.partitions = String(app.cluster!.placement.ownedPartitions().length);
    }
    const ready = database === 'ok' && (redis === null || redis === 'ok');
    if (!ready) reply.code(503).header('retry-after', '2');
    return { status: ready ? 'ok' : 'unavailable', checks };
  });
};

export default healthRoutes;
