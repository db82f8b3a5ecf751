import { parentPort, workerData } from 'node:worker_threads';
import { io, type Socket } from 'socket.io-client';

/**
 * One thread of the fan-out measurement: opens `count` anonymous socket.io connections (websocket)
 * to `origin`, has each watch `dealId`, then records, for every `queue:progress` received during
 * `seconds`, the delay from the server's `at` to its arrival here (same machine, same clock).
 * Messages to the parent: `{ type: 'connected', n }` while connecting, then
 * `{ type: 'done', lags: number[], sockets, failed }`.
 */
interface Job {
  origin: string;
  dealId: string;
  count: number;
  seconds: number;
}

async function main(): Promise<void> {
  const job = workerData as Job;
  const sockets: Socket[] = [];
  let failed = 0;
  const connectOne = () =>
    new Promise<void>((resolve) => {
      const socket = io(job.origin, { transports: ['websocket'], reconnection: false, timeout: 20_000 });
      socket.once('connect', () => {
        socket.timeout(20_000).emit('deal:watch', { dealId: job.dealId }, (err: unknown) => {
          if (err) failed += 1;
          else sockets.push(socket);
          resolve();
        });
      });
      socket.once('connect_error', () => {
        failed += 1;
        resolve();
      });
    });
  for (let i = 0; i < job.count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, job.count - i) }, connectOne));
    parentPort!.postMessage({ type: 'connected', n: Math.min(job.count, i + 100) });
  }
  parentPort!.postMessage({ type: 'ready' });
  await new Promise<void>((resolve) => parentPort!.once('message', () => resolve()));
  const lags: number[] = [];
  for (const socket of sockets) socket.on('queue:progress', (e: { at: number }) => lags.push(Date.now() - e.at));
  await new Promise((r) => setTimeout(r, job.seconds * 1000));
  for (const socket of sockets) socket.close();
  parentPort!.postMessage({ type: 'done', lags, sockets: sockets.length, failed });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
