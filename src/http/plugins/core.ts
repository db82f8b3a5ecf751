import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { cartActor } from '../../actors/cart/cart-actor';
import { dealActor } from '../../actors/deal/deal-actor';
import { orderActor } from '../../actors/order/order-actor';
import { ActorSystem } from '../../actors/runtime/actor-system';
import { ClusterNode } from '../../actors/runtime/cluster/cluster';
import type { Config } from '../../config';
import { openDatabase } from '../../persistence/data-source';
import { Database } from '../../persistence/database';
import { AdmissionTokens } from '../../waiting-room/admission-tokens';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    db: Database;
    actors: ActorSystem;
    admissions: AdmissionTokens;
    /** Set in cluster mode (REDIS_URL): this node's Redis, placement and transport. */
    cluster: ClusterNode | null;
  }
}

/**
 * The app's own parts: configuration, the database (migrated), the actor system with the deal,
 * cart and order kinds (payments are the `payments` plugin's). Closed in reverse order on shutdown: actors
 * finish their batches before the database goes.
 */
export default fp(
  async function core(app: FastifyInstance, opts: { config: Config }) {
    const { config } = opts;
    app.decorate('config', config);

    const dataSource = await openDatabase(config.database, config.dbPoolSize);
    const db = new Database(dataSource);
    app.decorate('db', db);
    app.log.info({ database: config.database.type }, 'database ready (migrations applied)');

    // Cluster mode: actors are spread over the nodes by partition leases in Redis, and messages
    // to actors owned elsewhere travel over Redis Streams. Embedded: everything in process.
    const cluster = config.cluster && config.redisUrl
      ? new ClusterNode({ redisUrl: config.redisUrl, ...config.cluster, replyTimeoutMs: config.askTimeoutMs, kinds: ['deal', 'cart', 'order'] }, db, app.log.child({ component: 'cluster', node: config.cluster.nodeId }))
      : null;
    app.decorate('cluster', cluster);
    const actors = new ActorSystem({
      db,
      ...(cluster ? { transport: cluster.transport, placement: cluster.placement } : {}),
      askTimeoutMs: config.askTimeoutMs,
      logger: app.log.child({ component: 'actors' }),
      maxBatch: config.actorMaxBatch,
      idleMs: config.actorIdleSeconds * 1000,
    });
    actors.register(
      dealActor({
        stockPublishIntervalMs: config.stockPublishIntervalMs,
        room: { tickMs: config.queueTickMs, goneAfterMs: config.queueGoneAfterSeconds * 1000, admissionTtlMs: config.admissionTtlSeconds * 1000 },
      }),
    );
    actors.register(cartActor);
    actors.register(orderActor({ paymentCheckGraceMs: config.orderPaymentCheckGraceSeconds * 1000 }));
    app.decorate('actors', actors);
    app.decorate('admissions', new AdmissionTokens(config.admissionPrivateKey));

    cluster?.bind(actors);

    app.addHook('onReady', async () => {
      await actors.start();
      if (cluster) {
        await cluster.start();
        app.log.info({ node: config.cluster!.nodeId, partitions: cluster.placement.ownedPartitions().map((p) => p.name) }, 'joined the cluster');
      }
    });
    app.addHook('onClose', async () => {
      // Leases first: the other nodes take this node's partitions over at once.
      await cluster?.stop();
      await actors.stop();
      cluster?.disconnect();
      app.log.info('actor system stopped');
      await dataSource.destroy();
      app.log.info('database closed');
    });
  },
  { name: 'core' },
);
