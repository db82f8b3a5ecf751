import { Worker } from 'node:worker_threads';

/** Renews the lease only if this node still holds it. KEYS[1] lease; ARGV node id, ttl ms. */
export const RENEW_IF_MINE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export interface LeaseRenewerOptions {
  redisUrl: string;
  nodeId: string;
  /** Key of the live-node sorted set. */
  nodesKey: string;
  /** Lease key of each slot (index = the slot). */
  leaseKeys: readonly string[];
  leaseMs: number;
  heartbeatMs: number;
  /** Taken off every lease: clock drift and the time a renewal takes to land (ms). */
  marginMs: number;
  connectionName: string;
}

/** What the renewer reports to the node's main thread. */
export type RenewerReport =
  | { type: 'live'; nodes: string[]; at: number }
  | { type: 'lost'; slot: number; reason: string }
  | { type: 'failed'; message: string };

/**
 * Renews this node's partition leases from a worker thread, on a Redis connection of its own, so
 * that a busy or stalled main event loop (a burst of a sale, a long garbage collection) cannot make
 * a healthy node miss its renewals and lose its partitions, which costs a reload of every actor in
 * them. The whole process still stops renewing when it is killed or paused (SIGSTOP), so a node
 * that is really gone loses its leases on time.
 *
 * Shared state: `validUntil` (one BigInt64 per slot, epoch ms, 0 = not held) is written by the
 * worker after each renewal (counted from before the renewal was sent, minus the margin) and by the
 * main thread when it acquires or drops a slot; the main thread reads it (`Atomics.load`) on every
 * ownership check. Each heartbeat also announces the node in the live set and reports the live
 * nodes (`live`), lost slots (`lost`: the lease is someone else's now, or Redis refused) and failed
 * heartbeats (`failed`: Redis unreachable; leases then lapse on time).
 */
export class LeaseRenewer {
  readonly validUntil: BigInt64Array;
  private readonly worker: Worker;
  private stopped = false;

  constructor(options: LeaseRenewerOptions, onReport: (report: RenewerReport) => void) {
    this.validUntil = new BigInt64Array(new SharedArrayBuffer(8 * options.leaseKeys.length));
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { ...options, ioredisPath: require.resolve('ioredis'), script: RENEW_IF_MINE, validUntil: this.validUntil },
      // A small heap: the worker holds a connection and a few hundred keys.
      resourceLimits: { maxOldGenerationSizeMb: 64 },
    });
    this.worker.on('message', (report: RenewerReport) => onReport(report));
    this.worker.on('error', (err) => onReport({ type: 'failed', message: `lease renewer failed: ${err.message}` }));
    this.worker.unref();
  }

  /** Until when (epoch ms) this node may act for `slot`; 0 when it does not hold it. */
  validFor(slot: number): number {
    return Number(Atomics.load(this.validUntil, slot));
  }

  /** Starts renewing `slot`, held until `validUntil` (epoch ms) after its acquisition. */
  hold(slot: number, validUntil: number): void {
    Atomics.store(this.validUntil, slot, BigInt(validUntil));
    this.worker.postMessage({ type: 'hold', slot });
  }

  /** Stops renewing `slot` (lost, handed over); the caller releases the lease itself. */
  drop(slot: number): void {
    Atomics.store(this.validUntil, slot, 0n);
    this.worker.postMessage({ type: 'drop', slot });
  }

  /** Stops the worker (its connection closes). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.validUntil.fill(0n);
    await this.worker.terminate();
  }
}

/** The worker's code (CommonJS, plain JS: it runs the same from the build and from the tests). */
const WORKER_SOURCE = `
const { parentPort, workerData: o } = require('node:worker_threads');
const Redis = require(o.ioredisPath);
const redis = new Redis(o.redisUrl, {
  enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 1000), connectionName: o.connectionName,
});
redis.on('error', () => undefined);
// A heartbeat before the connection first opens is not a failure to report, for up to one lease:
// the node has no partitions yet, and a warning at every start would teach operators to ignore it.
const startedAt = Date.now();
let everReady = false;
redis.once('ready', () => {
  everReady = true;
  beat();
});
const held = new Set();
let beating = false;
parentPort.on('message', (m) => {
  if (m.type === 'hold') held.add(m.slot);
  else if (m.type === 'drop') held.delete(m.slot);
});
async function beat() {
  if (beating) return;
  beating = true;
  const started = Date.now();
  try {
    const slots = [...held];
    const p = redis.pipeline()
      .zadd(o.nodesKey, started, o.nodeId)
      .zremrangebyscore(o.nodesKey, '-inf', started - 10 * o.leaseMs)
      .zrangebyscore(o.nodesKey, started - o.leaseMs, '+inf');
    for (const slot of slots) p.eval(o.script, 1, o.leaseKeys[slot], o.nodeId, o.leaseMs);
    const results = await p.exec();
    for (let i = 0; i < 3; i++) if (results[i][0]) throw results[i][0];
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      if (!held.has(slot)) continue; // dropped meanwhile
      const [err, ok] = results[3 + i];
      if (err || ok !== 1) {
        held.delete(slot);
        Atomics.store(o.validUntil, slot, 0n);
        parentPort.postMessage({ type: 'lost', slot, reason: err ? 'renewal failed' : 'lease taken over' });
      } else {
        Atomics.store(o.validUntil, slot, BigInt(started + o.leaseMs - o.marginMs));
      }
    }
    parentPort.postMessage({ type: 'live', nodes: results[2][1], at: started });
  } catch (err) {
    if (everReady || Date.now() - startedAt >= o.leaseMs) parentPort.postMessage({ type: 'failed', message: String(err && err.message || err) });
  } finally {
    beating = false;
  }
}
setInterval(beat, o.heartbeatMs);
`;
