import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Server, type Socket } from 'socket.io';
import type { AccessClaims } from '../accounts/accounts';
import type { DealRecord } from '../actors/deal/state';
import type { Result } from '../actors/result';
import { HttpProblem } from '../http/problem';
import { salesOf } from '../http/sales';
import { dealView } from '../http/views';
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
    const io = new Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>(app.server, {
      serveClient: false,
      cors: { origin: true, credentials: true },
      pingInterval: 10_000,
      pingTimeout: 5_000,
      connectionStateRecovery: undefined,
    });
    app.decorate('io', io);

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

    io.on('connection', (socket: LiveSocket) => {
      if (socket.data.userId) void socket.join(rooms.user(socket.data.userId));

      socket.on('deal:watch', async (payload, ack) => {
        if (typeof ack !== 'function') return;
        const dealId = payload?.dealId;
        if (typeof dealId !== 'string' || !DEAL_ID.test(dealId)) return ack({ error: { code: 'VALIDATION_FAILED', detail: 'dealId is required' } });
        try {
          // Join first, then take the snapshot: an event after the snapshot is never missed, and
          // one before it carries seq <= snapshot.seq, which the client drops.
          await socket.join(rooms.deal(dealId));
          const result = await app.actors.ask<Result<{ deal: DealRecord; seq: number }>>({ kind: 'deal', id: dealId }, { type: 'snapshot', now: Date.now() });
          if (!result.ok) {
            await socket.leave(rooms.deal(dealId));
            return ack({ error: result.error });
          }
          ack({ deal: dealView(result.value.deal), ticket: null, serverTime: Date.now(), seq: result.value.seq });
        } catch (err) {
          app.log.warn({ err, dealId }, 'deal:watch failed');
          ack({ error: { code: 'UNAVAILABLE', detail: 'try again shortly' } });
        }
      });

      socket.on('deal:unwatch', async (payload, ack) => {
        if (typeof payload?.dealId === 'string') await socket.leave(rooms.deal(payload.dealId));
        if (typeof ack === 'function') ack({ ok: true });
      });

      socket.on('seller:watch', async (payload, ack) => {
        if (typeof ack !== 'function') return;
        const { userId, roles } = socket.data;
        const dealId = payload?.dealId;
        if (!userId) return ack({ error: { code: 'UNAUTHORIZED', detail: 'log in as the seller of this deal' } });
        if (!roles.includes('seller') && !roles.includes('admin')) return ack({ error: { code: 'FORBIDDEN', detail: 'sellers and admins only' } });
        if (typeof dealId !== 'string' || !DEAL_ID.test(dealId)) return ack({ error: { code: 'VALIDATION_FAILED', detail: 'dealId is required' } });
        try {
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
      io.to(room).emit(event as keyof ServerToClientEvents, payload as never);
    });

    app.addHook('preClose', async () => {
      // Not io.close(): it also closes the HTTP server and waits for every keep-alive connection,
      // which hangs a shutdown under load; the server is fastify's to close.
      io.local.disconnectSockets(true);
      io.engine.close();
      app.log.info('live sockets closed');
    });
  },
  { name: 'realtime', dependencies: ['core', 'auth'] },
);
