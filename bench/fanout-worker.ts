import { parentPort, workerData } from 'node:worker_threads';
import WebSocket from 'ws';

/**
 * One thread of the fan-out measurement: opens `count` anonymous socket.io connections to
 * `origin`, has each watch `dealId`, then records, for every `queue:progress` received during
 * `seconds`, the delay from the server's `at` to its arrival here (same machine, same clock).
 * Messages to the parent: `{ type: 'connected', n }` while connecting, `{ type: 'ready' }`, then
 * `{ type: 'done', lags: number[], ticks: Array<{ at, n, max }>, sockets, failed }` (`ticks`: per emit,
 * the messages received and their largest lag).
 *
 * The clients speak socket.io's wire protocol themselves over a plain `ws` WebSocket (what
 * socket.io-client does with `transports: ['websocket']`, minus its per-socket event machinery):
 * engine.io v4 open packet, namespace connect (`40`), `deal:watch` with an ack (`420[...]` ->
 * `430[...]`), pong for every ping, and every event frame decoded with JSON.parse. Ten thousand
 * socket.io-client instances on the same two cores as the server made their own receive loop part
 * of the measured lag.
 */
interface Job {
  origin: string;
  dealId: string;
  count: number;
  seconds: number;
}

const PROGRESS_PREFIX = '42["queue:progress",';

async function main(): Promise<void> {
  const job = workerData as Job;
  const url = `${job.origin.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
  const sockets: WebSocket[] = [];
  let failed = 0;
  let measuring = false;
  const lags: number[] = [];
  /** Per emit (its `at`): [messages received, their largest lag]. */
  const ticks = new Map<number, [number, number]>();

  const connectOne = () =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      let settled = false;
      const settle = (ok: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (ok) sockets.push(ws);
        else {
          failed += 1;
          ws.terminate();
        }
        resolve();
      };
      const timer = setTimeout(() => settle(false), 20_000);
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) return;
        const text = data.toString();
        if (text === '2') return ws.send('3'); // engine.io ping -> pong
        if (text.startsWith('42')) {
          if (measuring && text.startsWith(PROGRESS_PREFIX)) {
            const [, payload] = JSON.parse(text.slice(2)) as [string, { at: number }];
            const lag = Date.now() - payload.at;
            lags.push(lag);
            const tick = ticks.get(payload.at);
            if (tick) {
              tick[0] += 1;
              tick[1] = Math.max(tick[1], lag);
            } else ticks.set(payload.at, [1, lag]);
          }
          return;
        }
        if (text.startsWith('0{')) return ws.send('40'); // engine.io open -> socket.io connect
        if (text.startsWith('40')) return ws.send(`420${JSON.stringify(['deal:watch', { dealId: job.dealId }])}`);
        if (text.startsWith('44')) return settle(false); // connect_error
        if (text.startsWith('430')) {
          const [answer] = JSON.parse(text.slice(3)) as [{ error?: unknown }];
          settle(!answer || answer.error === undefined);
        }
      });
      ws.on('error', () => settle(false));
      ws.on('close', () => settle(false));
    });

  for (let i = 0; i < job.count; i += 100) {
    await Promise.all(Array.from({ length: Math.min(100, job.count - i) }, connectOne));
    parentPort!.postMessage({ type: 'connected', n: Math.min(job.count, i + 100) });
  }
  parentPort!.postMessage({ type: 'ready' });
  await new Promise<void>((resolve) => parentPort!.once('message', () => resolve()));
  measuring = true;
  await new Promise((r) => setTimeout(r, job.seconds * 1000));
  measuring = false;
  for (const ws of sockets) ws.terminate();
  parentPort!.postMessage({ type: 'done', lags, ticks: [...ticks].map(([at, [n, max]]) => ({ at, n, max })), sockets: sockets.length, failed });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
