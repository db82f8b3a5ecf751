import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createAdapter } from '@socket.io/redis-adapter';
import { Server, type Socket } from 'socket.io';
import { parseRoles, type AccessClaims } from '../accounts/accounts';
import { UserEntity } from '../persistence/entities/user.entity';
import type { TicketInfo } from '../actors/deal/messages';
import type { DealRecord } from '../actors/deal/state';
import type { Result } from '../actors/result';
import { HttpProblem } from '../http/problem';
import { salesOf } from '../http/sales';
import { ticketView } from '../http/ticket-view';
import { dealView } from '../http/views';
import { Presence } from './presence';
import { rooms, type ClientToServerEvents, type ServerToClientEvents, type SocketData } from './events';

declare module 'fastify' {
  interface FastifyInstance {
    io: Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
  }
}

type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
const DEAL_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * socket.io on the app's HTTP server. Authenticated sockets join their own room
 * (`user:<id>`); anyone may watch a deal's room. The actor system's committed `publish` effects
 * are emitted to their rooms here.
 */
export default fp(
  async function realtime(app: FastifyInstance) {
    const corsOrigins = app.config.corsOrigins;
    const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>(app.server, {
      serveClient: false,
      // Cross-origin pages only from CORS_ORIGINS, like the REST API. Browsers do not apply CORS to
      // WebSocket upgrades, so the Origin header is checked for every transport in allowRequest.
      cors: corsOrigins.length > 0 ? { origin: corsOrigins.includes('*') ? '*' : corsOrigins, credentials: true } : undefined,
      allowRequest: (req, callback) => {
        const origin = req.headers.origin;
        if (!origin || corsOrigins.includes('*') || corsOrigins.includes(origin)) return callback(null, true);
        let sameHost = false;
        try {
          sameHost = new URL(origin).host === req.headers.host;
        } catch {
          // a malformed Origin is refused
        }
        callback(sameHost ? null : 'origin not allowed', sameHost);
      },
      pingInterval: 10_000,
      pingTimeout: 5_000,
      connectionStateRecovery: undefined,
    });
    app.decorate('io', io);
    if (app.cluster) {
      // Cluster mode: an event emitted on any node reaches the room's sockets on every node. A lost
      // packet costs nothing: clients see the seq gap and take a fresh snapshot.
      const pub = app.cluster.redis.duplicate();
      const sub = app.cluster.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
      for (const c of [pub, sub]) c.on('error', () => undefined);
      // The adapter does not handle a failed publish (Redis away): the packet is lost, which the
      // seq numbers let clients notice, but the rejection must not take the node down.
      const publish = pub.publish.bind(pub) as (channel: string, message: string | Buffer) => Promise<number>;
      (pub as unknown as { publish: typeof publish }).publish = (channel, message) => publish(channel, message).catch(() => 0);
      io.adapter(createAdapter(pub, sub, { key: app.cluster.keys.sockets }));
      app.addHook('onClose', async () => {
        pub.disconnect();
        sub.disconnect();
      });
    }

    io.use((socket, next) => {
      const auth = socket.handshake.auth as { token?: unknown };
      socket.data = { userId: null, roles: [] };
      if (!('token' in auth)) return next(); // anonymous: public deal rooms only
      try {
        if (typeof auth.token !== 'string' || auth.token === '') throw new Error('empty token');
        const claims = app.jwt.verify<AccessClaims>(auth.token);
        if (claims.typ !== 'access') throw new Error('not an access token');
        if (app.suspensions.has(claims.sub)) throw new Error('the account is suspended');
        socket.data = { userId: claims.sub, roles: claims.roles };
        next();
      } catch {
        const error = new Error('the access token is missing, malformed, forged or expired') as Error & { data: unknown };
        error.data = { code: 'UNAUTHORIZED' };
        next(error);
      }
    });

    // Which shoppers have a socket in which deal's room, on this node: reported to the deal actors
    // so the waiting room does not skip a shopper who is still there.
    const presence = new Presence();
    const presenceEveryMs = Math.max(250, Math.min(10_000, Math.floor((app.config.queueGoneAfterSeconds * 1000) / 3)));
    const presenceTimer = setInterval(() => {
      const now = Date.now();
      for (const [dealId, userIds] of presence.byDeal()) app.actors.tell({ kind: 'deal', id: dealId }, { type: 'seen', now, userIds });
    }, presenceEveryMs);
    presenceTimer.unref();

    io.on('connection', (socket: LiveSocket) => {
      if (socket.data.userId) void socket.join(rooms.user(socket.data.userId));
      socket.on('disconnect', () => {
        if (socket.data.userId) presence.leaveAll(socket.id);
      });

      socket.on('deal:watch', async (payload, ack) => {
        if (typeof ack !== 'function') return;
        const dealId = payload?.dealId;
        if (typeof dealId !== 'string' || !DEAL_ID.test(dealId)) return ack({ error: { code: 'VALIDATION_FAILED', detail: 'dealId is required' } });
        try {
          // Join first, then take the snapshot: an event after the snapshot is never missed, and
          // one before it carries seq <= snapshot.seq, which the client drops.
          await socket.join(rooms.deal(dealId));
          const userId = socket.data.userId ?? undefined;
          const result = await app.actors.ask<Result<{ deal: DealRecord; seq: number; ticket: TicketInfo | null }>>({ kind: 'deal', id: dealId }, { type: 'snapshot', now: Date.now(), userId });
          if (!result.ok) {
            await socket.leave(rooms.deal(dealId));
            return ack({ error: result.error });
          }
          if (userId) presence.join(socket.id, dealId, userId);
          const { deal, seq, ticket } = result.value;
          ack({ deal: dealView(deal), ticket: ticket ? await ticketView(ticket, app.admissions) : null, serverTime: Date.now(), seq });
        } catch (err) {
          app.log.warn({ err, dealId }, 'deal:watch failed');
          ack({ error: { code: 'UNAVAILABLE', detail: 'try again shortly' } });
        }
      });

      socket.on('deal:unwatch', async (payload, ack) => {
        if (typeof payload?.dealId === 'string') {
          await socket.leave(rooms.deal(payload.dealId));
          presence.leave(socket.id, payload.dealId);
        }
        if (typeof ack === 'function') ack({ ok: true });
      });

      socket.on('seller:watch', async (payload, ack) => {
        if (typeof ack !== 'function') return;
        const { userId } = socket.data;
        const dealId = payload?.dealId;
        if (!userId) return ack({ error: { code: 'UNAUTHORIZED', detail: 'log in as the seller of this deal' } });
        try {
          // The roles as the database has them now, as for REST (`requireRole`): a seller approved
          // after their token was issued may watch at once, and a revoked role stops counting.
          const row = await app.db.read((m) => m.findOne(UserEntity, { select: { id: true, roles: true, status: true }, where: { id: userId } }));
          const roles = row && row.status !== 'suspended' ? parseRoles(row.roles) : [];
          if (!roles.includes('seller') && !roles.includes('admin')) return ack({ error: { code: 'FORBIDDEN', detail: 'sellers and admins only' } });
          if (typeof dealId !== 'string' || !DEAL_ID.test(dealId)) return ack({ error: { code: 'VALIDATION_FAILED', detail: 'dealId is required' } });
          const sales = await salesOf(app, dealId, userId, roles.includes('admin'));
          await socket.join(rooms.sellerDeal(dealId));
          ack(sales);
        } catch (err) {
          if (err instanceof HttpProblem) return ack({ error: { code: err.code === 'NOT_FOUND' ? 'FORBIDDEN' : err.code, detail: err.detail } });
          ack({ error: { code: 'UNAVAILABLE', detail: 'try again shortly' } });
        }
      });
    });

    app.actors.onPublish((room, event, payload) => {
      if (event === 'queue:admitted') {
        // The actor records the admission; its token is signed here, on the way out.
        const { userId, dealId, expiresAt, at } = payload as { userId: string; dealId: string; expiresAt: string; at: number };
        app.admissions
          .sign({ userId, dealId, expiresAt: Date.parse(expiresAt) })
          .then((token) => io.to(room).emit('queue:admitted', { dealId, token, expiresAt, at }))
          .catch((err) => app.log.error({ err, dealId, userId }, 'could not sign an admission token'));
        return;
      }
      io.to(room).emit(event as keyof ServerToClientEvents, payload as never);
    });

    app.addHook('preClose', async () => {
      clearInterval(presenceTimer);
      // Not io.close(): it also closes the HTTP server and waits for every keep-alive connection,
      // which hangs a shutdown under load; the server is fastify's to close.
      io.local.disconnectSockets(true);
      io.engine.close();
      app.log.info('live sockets closed');
    });
  },
  { name: 'realtime', dependencies: ['core', 'auth'] },
);
