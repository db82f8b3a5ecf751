import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import pino from 'pino';
import { openDatabase } from '../../../persistence/data-source';
import { Database } from '../../../persistence/database';
import { createTestDatabase } from '../../../../test/support/services';
import { waitFor } from '../../../../test/support/wait';
import { LeasePlacement } from './lease-placement';
import { clusterKeys } from './partitions';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Busy-waits `ms` on this thread, as a long burst of work or a long GC pause would. */
function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

/** Lease placement against real Redis and MariaDB: renewals live through a stalled main thread. */
describe('LeasePlacement (Redis, MariaDB)', () => {
  let testDb: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Database;
  let redis: Redis;
  const cluster = `leasetest${randomBytes(3).toString('hex')}`;
  const keys = clusterKeys(cluster);
  const placements: LeasePlacement[] = [];

  beforeAll(async () => {
    testDb = await createTestDatabase('lease');
    db = new Database(await openDatabase({ type: 'mariadb', url: testDb.url }, 4));
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    await redis.ping(); // fails the suite (never skips) when Redis is missing
  });
  afterEach(async () => {
    for (const p of placements.splice(0)) await p.stop();
  });
  afterAll(async () => {
    const leftovers = await redis?.keys(`${cluster}:*`);
    if (leftovers?.length) await redis.del(...leftovers);
    redis?.disconnect();
    await db?.dataSource.destroy();
    await testDb?.drop();
  });

  function placement(nodeId: string, leaseMs = 1500, heartbeatMs = 300, options: { logger?: pino.Logger; renewerRedisUrl?: string } = {}): LeasePlacement {
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    const p = new LeasePlacement({ redis: connection, redisUrl: options.renewerRedisUrl ?? REDIS_URL, keys, db, nodeId, kinds: ['deal'], partitions: 4, leaseMs, heartbeatMs, logger: options.logger ?? pino({ level: 'silent' }) });
    placements.push(p);
    const stop = p.stop.bind(p);
    p.stop = async () => {
      await stop();
      connection.disconnect();
    };
    return p;
  }

  it('keeps its partitions while its main thread is blocked for longer than the lease (renewals run in a worker thread)', async () => {
    const node = placement('node-a');
    const lost: string[] = [];
    node.onLost((name, _kind, _partition, reason) => lost.push(`${name}: ${reason}`));
    await node.start();
    await waitFor(async () => node.ownedPartitions().length === 4, 5000);
    const tokens = node.ownedPartitions().map((p) => p.token);

    blockEventLoop(3 * 1500); // three leases long

    expect(node.ownedPartitions().map((p) => p.name).sort()).toEqual(['deal:0', 'deal:1', 'deal:2', 'deal:3']);
    expect(node.owns('deal:0')).toBe(true);
    expect(await redis.get(keys.lease('deal:0'))).toBe('node-a');
    // Let the main thread see the renewer's reports from the stall: still no partition lost.
    await new Promise((r) => setTimeout(r, 700));
    expect(lost).toEqual([]);
    expect(node.ownedPartitions().map((p) => p.token)).toEqual(tokens);
  });

  /** A warn-level logger whose messages land in `lines`. */
  function collectingLogger(lines: string[]): pino.Logger {
    return pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line).msg) });
  }

  it('starts without a heartbeat warning while its Redis connection opens, and warns when Redis stays unreachable', async () => {
    const quiet: string[] = [];
    const node = placement('node-a', 1500, 300, { logger: collectingLogger(quiet) });
    await node.start();
    await waitFor(async () => node.ownedPartitions().length === 4, 5000);
    await new Promise((r) => setTimeout(r, 600)); // two more heartbeats
    expect(quiet).toEqual([]);

    // A renewer that never reaches Redis (nothing listens on port 1) does warn, once a lease has passed.
    const loud: string[] = [];
    const cutOff = placement('node-b', 1500, 300, { logger: collectingLogger(loud), renewerRedisUrl: 'redis://127.0.0.1:1' });
    await cutOff.start();
    await waitFor(async () => loud.length > 0, 5000);
    expect(loud[0]).toMatch(/cluster heartbeat failed/);
    expect(cutOff.ownedPartitions()).toEqual([]);
  });

  it('hands partitions to a node that joins, and takes them back when it stops', async () => {
    const a = placement('node-a');
    await a.start();
    await waitFor(async () => a.ownedPartitions().length === 4, 5000);
    const b = placement('node-b');
    await b.start();
    await waitFor(async () => a.ownedPartitions().length + b.ownedPartitions().length === 4 && b.ownedPartitions().length > 0, 8000);
    const both = [...a.ownedPartitions(), ...b.ownedPartitions()].map((p) => p.name).sort();
    expect(both).toEqual(['deal:0', 'deal:1', 'deal:2', 'deal:3']);
    await b.stop();
    placements.splice(placements.indexOf(b), 1);
    await waitFor(async () => a.ownedPartitions().length === 4, 8000);
  });
});
