import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Redis from 'ioredis';
import { createConnection, type Connection } from 'mysql2/promise';
import { io, type Socket } from 'socket.io-client';
import { request } from 'undici';
import { accessTokenSigner } from '../src/accounts/tokens';
import { clusterKeys, partitionName, partitionOf, rendezvousOwner } from '../src/actors/runtime/cluster/partitions';
import { scenarioArgs, UsageError, wholeNumber } from './cli';
import { gitRevision, machineInfo } from './report';
import { runAudit } from './rehearsal-audit';
import { renderBaselineText, runBaselineScenario, type BaselineReport } from './rehearsal-baseline';
import { buildReport, publish, renderText, type FaultEvent, type Sample } from './rehearsal-report';
import { SERVER_ROUTES, serverLatency } from './server-latency';
import { startWebhookRelay } from './webhook-relay';
import { privateMariaDB, privateRedis, type PrivateService } from './private-services';
import type { Fate, ShopperJob, ShopperPlan, ShopperProgress, ShopperResult } from './rehearsal-shopper';
import { benchDatabaseName, boundedResults, cpuSeconds, findDatabasePid, freePort, repoRoot, startNodeArgs, startServer, Teardown, type ServerProcess } from './servers';

/** Settings of one rehearsal (see REHEARSAL_USAGE). */
export interface RehearsalOptions {
  shoppers: number;
  units: number;
  opensInSeconds: number;
  /** Longest the sale is driven after it opens (s); the run is bounded by this plus the settling. */
  saleSeconds: number;
  embedded: boolean;
  nodes: number;
  threads: number;
  perUserLimit: number;
  admissionPerMinute: number;
  maxActive: number;
  killNodeAt: number | null;
  restartRedisAt: number | null;
  restartMariadbAt: number | null;
  outageSeconds: number;
  /** How long a hold lasts (HOLD_TTL_SECONDS of the nodes). */
  holdTtlSeconds: number;
  /** How long an order waits for its payment before it expires (ORDER_PAYMENT_TIMEOUT_SECONDS). */
  orderTimeoutSeconds: number;
  /** How long an admission from the waiting room lasts (ADMISSION_TTL_SECONDS). */
  admissionTtlSeconds: number;
  seed: number;
  record: boolean;
  jsonPath: string | null;
  quick: boolean;
  /**
   * The baseline row (bench/rehearsal-baseline.ts): `also` (default) runs it right after the
   * Dealrush part, `only` runs nothing else (--baseline), `skip` leaves it out (--no-baseline).
   */
  baseline: 'also' | 'only' | 'skip';
}

export const REHEARSAL_USAGE = `usage: npm run rehearsal -- [options]

A full flash sale, run the way a real one runs: the topology, a seller, a deal with its waiting
room opening --opens-in seconds later, shoppers (each a socket.io client plus HTTP, spread over
worker threads) arriving on a curve (early birds in the pre-queue, a spike at the opening, a tail),
waiting for admission, holding 1-2 units, checking out and paying at the mock gateway (some
decline, some cancel, some walk away). Then an audit against MariaDB and the gateway, a report
(bench/results/rehearsal-*.json, a section of docs/benchmarks.md, a chart in docs/images/).

options:
  --shoppers N            shoppers (default 20000; quick 2000)
  --units N               units on sale (default 10000; quick 1000)
  --opens-in S            seconds from the deal's creation to its opening (default 30; quick 10)
  --sale-seconds S        longest the sale is driven after the opening (default 120; quick 60)
  --embedded              one embedded node (no Redis) instead of the cluster
  --nodes N               cluster nodes (default 3)
  --threads N             load-generator processes (default 2)
  --per-user-limit N      the deal's per-user limit (default 2)
  --admission-per-minute N  waiting-room rate (default shoppers x 6, at least 600)
  --max-active N          waiting-room live admissions (default units)
  --kill-node S           SIGKILL the node owning the deal S seconds into the sale (cluster)
  --restart-redis S       stop Redis S seconds into the sale, start it --outage-seconds later
                          (a private redis-server; cluster)
  --restart-mariadb S     the same with MariaDB (a private mariadbd)
  --outage-seconds S      how long a restarted service stays down (default 10)
  --hold-ttl S            a hold's lifetime on the nodes (default 60: longer than a request waits
                          in this machine's queues at the full-scale spike, short enough that
                          walked-away holds come back within the sale)
  --order-timeout S       how long an order waits for its payment before it expires (default 60)
  --admission-ttl S       how long an admission lets a shopper hold (default 60)
  --seed N                seed of the shoppers' plans (default 1)
  --quick                 2000 shoppers, 1000 units, opening in 10 s (explicit options still win)
  --no-record             do not append to docs/benchmarks.md (the chart goes beside the JSON)
  --json PATH             also write the JSON report to PATH
  --baseline              run ONLY the baseline row: the same shoppers (same seed, arrival curve and
                          quantities) against bench/baseline-server.ts, one SELECT ... FOR UPDATE
                          transaction per purchase, one POST each, no waiting room, socket or
                          payment; a report of its own (bench/results/rehearsal-baseline-*.json)
  --no-baseline           leave out the baseline row that a rehearsal otherwise runs right after
                          the Dealrush part (the report compares the two in one table)
  --help                  this text

Needs MariaDB at 127.0.0.1:3306 (root; BENCH_MYSQL_URL) and, for the cluster, Redis at
127.0.0.1:6379 (BENCH_REDIS_URL), and a build (npm run build:server). Exit codes: 0 done with a
clean audit (the baseline's too), 1 failed or an audit failed, 64 bad usage, 130 interrupted.`;

const ADMIN_URL = (process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/+$/, '');
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PARTITIONS = 8;
const stampOf = (date: Date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function parseRehearsalArgs(argv: string[]): RehearsalOptions | 'help' {
  const values = scenarioArgs(argv, {
    shoppers: { type: 'string' }, units: { type: 'string' }, 'opens-in': { type: 'string' }, 'sale-seconds': { type: 'string' },
    embedded: { type: 'boolean', default: false }, nodes: { type: 'string' }, threads: { type: 'string' }, 'per-user-limit': { type: 'string' },
    'admission-per-minute': { type: 'string' }, 'max-active': { type: 'string' }, 'kill-node': { type: 'string' }, 'restart-redis': { type: 'string' },
    'restart-mariadb': { type: 'string' }, 'outage-seconds': { type: 'string' }, 'hold-ttl': { type: 'string' }, 'order-timeout': { type: 'string' }, 'admission-ttl': { type: 'string' }, seed: { type: 'string' }, json: { type: 'string' },
    baseline: { type: 'boolean', default: false }, 'no-baseline': { type: 'boolean', default: false },
  });
  if (values.help) return 'help';
  const maybe = (name: string, value: string | undefined, max: number) => (value === undefined ? null : wholeNumber(name, value, 0, 0, max));
  const quick = values.quick === true;
  const shoppers = wholeNumber('shoppers', values.shoppers, quick ? 2000 : 20_000, 1, 100_000);
  const units = wholeNumber('units', values.units, quick ? 1000 : 10_000, 1, 1_000_000);
  const embedded = values.embedded === true;
  const saleSeconds = wholeNumber('sale-seconds', values['sale-seconds'], quick ? 60 : 120, 5, 1800);
  const options: RehearsalOptions = {
    shoppers,
    units,
    opensInSeconds: wholeNumber('opens-in', values['opens-in'], quick ? 10 : 30, 3, 600),
    saleSeconds,
    embedded,
    nodes: embedded ? 1 : wholeNumber('nodes', values.nodes, 3, 1, 8),
    threads: wholeNumber('threads', values.threads, 2, 1, 16),
    perUserLimit: wholeNumber('per-user-limit', values['per-user-limit'], 2, 1, 100),
    admissionPerMinute: wholeNumber('admission-per-minute', values['admission-per-minute'], Math.max(600, shoppers * 6), 1, 1_000_000),
    maxActive: wholeNumber('max-active', values['max-active'], Math.max(10, units), 1, 1_000_000),
    killNodeAt: maybe('kill-node', values['kill-node'], saleSeconds),
    restartRedisAt: maybe('restart-redis', values['restart-redis'], saleSeconds),
    restartMariadbAt: maybe('restart-mariadb', values['restart-mariadb'], saleSeconds),
    outageSeconds: wholeNumber('outage-seconds', values['outage-seconds'], 10, 1, 300),
    holdTtlSeconds: wholeNumber('hold-ttl', values['hold-ttl'], 60, 5, 3600),
    orderTimeoutSeconds: wholeNumber('order-timeout', values['order-timeout'], 60, 5, 3600),
    admissionTtlSeconds: wholeNumber('admission-ttl', values['admission-ttl'], 60, 10, 3600),
    seed: wholeNumber('seed', values.seed, 1, 0, 2 ** 31),
    record: values['no-record'] !== true,
    jsonPath: values.json ?? null,
    quick,
    baseline: values.baseline === true ? 'only' : values['no-baseline'] === true ? 'skip' : 'also',
  };
  if (values.baseline === true && values['no-baseline'] === true) throw new UsageError('--baseline and --no-baseline: choose one');
  if (options.baseline === 'only' && (options.killNodeAt !== null || options.restartRedisAt !== null || options.restartMariadbAt !== null)) throw new UsageError('--baseline runs the baseline alone: no faults');
  if (embedded && options.killNodeAt !== null) throw new UsageError('--kill-node needs the cluster (leave out --embedded)');
  if (embedded && options.restartRedisAt !== null) throw new UsageError('--restart-redis needs the cluster (the embedded node has no Redis)');
  if (options.killNodeAt !== null && options.nodes < 2) throw new UsageError('--kill-node needs at least 2 nodes');
  return options;
}

/** A small seeded PRNG (mulberry32), so that a seed gives the same shoppers' plans. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The shoppers' plans. Arrivals: 35% early (uniformly over the last 90% of the countdown, into the
 * pre-queue), 45% in the spike at the opening (exponential, mean 1.5 s), 20% in a tail (uniform
 * over 2-25% of the sale window). Quantity 1 (60%) or 2. Fates: 80% pay, 3% decline then pay, 3%
 * decline then cancel, 4% cancel at checkout, 5% walk away from the hold, 5% from the order.
 */
export function planShoppers(users: Array<{ id: string; token: string }>, opensAt: number, options: Pick<RehearsalOptions, 'opensInSeconds' | 'saleSeconds' | 'seed' | 'nodes'>): ShopperPlan[] {
  const random = prng(options.seed);
  const countdownMs = options.opensInSeconds * 1000;
  const tailMs = Math.max(5000, options.saleSeconds * 250);
  return users.map((u, i) => {
    const a = random();
    let arriveAt: number;
    if (a < 0.35) arriveAt = opensAt - 1000 - random() * (countdownMs * 0.9 - 1000);
    else if (a < 0.8) arriveAt = opensAt + Math.min(10_000, -Math.log(1 - random()) * 1500);
    else arriveAt = opensAt + 2000 + random() * (tailMs - 2000);
    const f = random();
    const fate: Fate = f < 0.8 ? 'pay' : f < 0.83 ? 'decline_then_pay' : f < 0.86 ? 'decline_then_cancel' : f < 0.9 ? 'cancel' : f < 0.95 ? 'abandon_hold' : 'abandon_order';
    return {
      id: u.id,
      token: u.token,
      arriveAt: Math.round(arriveAt),
      quantity: random() < 0.6 ? 1 : 2,
      fate,
      think: [100 + Math.round(random() * 500), 50 + Math.round(random() * 250), 200 + Math.round(random() * 1300)],
      node: i % options.nodes,
    };
  });
}

interface Topology {
  nodes: Array<{ id: string; server: ServerProcess; alive: boolean }>;
  gateway: ServerProcess | null;
  gatewayOrigin: string;
  databaseUrl: string;
  redisUrl: string | null;
  clusterName: string | null;
  privateRedis: PrivateService | null;
  privateMariaDB: PrivateService | null;
  mariadbPid: number | null;
}

/** Inserts `count` users straight into `users` (no argon2) and signs each an access token. */
async function insertUsers(db: Connection, jwtSecret: string, count: number, roles: string[]): Promise<Array<{ id: string; token: string }>> {
  const sign = accessTokenSigner(jwtSecret, 4 * 3600);
  const now = Date.now();
  const ids = Array.from({ length: count }, () => randomUUID());
  for (let i = 0; i < ids.length; i += 1000) {
    const rows = ids.slice(i, i + 1000).map((id) => [id, `${id}@rehearsal.test`, 'x', 'Rehearsal Shopper', roles.join(','), now]);
    await db.query('INSERT INTO users (id, email, password_hash, name, roles, created_at) VALUES ?', [rows]);
  }
  return ids.map((id) => ({ id, token: sign(id, roles as never) }));
}

const rss = (pid: number): { rssMiB: number; hwmMiB: number } | null => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
};

async function startTopology(options: RehearsalOptions, teardown: Teardown, workDir: string, stamp: string, secrets: { jwt: string; webhook: string }): Promise<Topology> {
  let adminUrl = ADMIN_URL;
  let privMaria: PrivateService | null = null;
  let privRedis: PrivateService | null = null;
  if (options.restartMariadbAt !== null) {
    console.error('rehearsal: starting a private MariaDB for --restart-mariadb');
    privMaria = await privateMariaDB();
    teardown.add('stop private MariaDB', () => privMaria!.destroy());
    adminUrl = privMaria.url;
  }
  if (!options.embedded && options.restartRedisAt !== null) {
    console.error('rehearsal: starting a private Redis for --restart-redis');
    privRedis = await privateRedis();
    teardown.add('stop private Redis', () => privRedis!.destroy());
  }
  const database = benchDatabaseName('dealrush_rehearsal_', stamp);
  const admin = await createConnection({ uri: adminUrl });
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  teardown.add(`drop database ${database}`, async () => {
    const c = await createConnection({ uri: adminUrl, connectTimeout: 5000 });
    await c.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await c.end();
  });
  const databaseUrl = `${adminUrl}/${database}`;
  const redisUrl = options.embedded ? null : (privRedis?.url ?? REDIS_URL);
  const clusterName = options.embedded ? null : `rehearsal${stamp.replace(/\D/g, '').slice(-10)}`;
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    DATA_DIR: join(workDir, 'data'),
    JWT_SECRET: secrets.jwt,
    PAYMENT_WEBHOOK_SECRET: secrets.webhook,
    DEMO_DATA: '0',
    SERVE_CLIENT: '0',
    LOG_LEVEL: 'warn',
    // A sale that turns over within the run: walked-away holds and orders come back to the deal.
    HOLD_TTL_SECONDS: String(options.holdTtlSeconds),
    ORDER_PAYMENT_TIMEOUT_SECONDS: String(options.orderTimeoutSeconds),
    // At the deadline a pending payment is asked about first; a gateway (or database) that does
    // not answer holds the order back 5 s at most, within the audit's 10 s allowance.
    ORDER_PAYMENT_CHECK_GRACE_SECONDS: '5',
    ADMISSION_TTL_SECONDS: String(options.admissionTtlSeconds),
    PAYMENT_RECONCILE_AFTER_SECONDS: '5',
    PAYMENT_JOBS_INTERVAL_SECONDS: '2',
    GATEWAY_RETRY_BASE_MS: '200',
    DB_POOL_SIZE: '20',
    // deal:stock coalesced to one a second (the contract allows up to ~10): each event is one
    // socket write per watcher, and with 20,000 watchers on one machine ten a second would cost
    // more CPU than the whole sale. An operator of a sale this size would set the same.
    STOCK_PUBLISH_INTERVAL_MS: '1000',
    // Every shopper comes from 127.0.0.1: the abuse limits would bind at once.
    ...Object.fromEntries(['SIGNUP_PER_ADDRESS', 'LOGIN_PER_ADDRESS', 'LOGIN_PER_ACCOUNT', 'QUEUE_JOIN_PER_USER', 'QUEUE_JOIN_PER_ADDRESS', 'HOLDS_PER_USER', 'HOLDS_PER_ADDRESS'].map((k) => [`RATE_LIMIT_${k}`, '0'])),
  };
  const topology: Topology = { nodes: [], gateway: null, gatewayOrigin: '', databaseUrl, redisUrl, clusterName, privateRedis: privRedis, privateMariaDB: privMaria, mariadbPid: privMaria?.pid() ?? null };
  if (!options.embedded) {
    const gatewayPort = await freePort();
    topology.gatewayOrigin = `http://127.0.0.1:${gatewayPort}`;
    Object.assign(env, {
      REDIS_URL: redisUrl!,
      CLUSTER_NAME: clusterName!,
      CLUSTER_PARTITIONS: String(PARTITIONS),
      // Lease, heartbeat and ask timeout: the defaults (3 s, 1 s, 5 s), as in production.
      QUEUE_PREFIX: clusterName!,
      GATEWAY_URL: topology.gatewayOrigin,
    });
    // Webhooks come back through a relay to the least busy live node, as through docker-compose.yml's proxy
    // (with each node's own address, a killed node's payments waited for reconciliation).
    const relay = await startWebhookRelay(() => topology.nodes.filter((n) => n.alive).map((n) => n.server.origin));
    teardown.add('stop the webhook relay', () => relay.close());
    env.PAYMENT_WEBHOOK_URL = `${relay.origin}/api/payments/webhook`;
    // The gateway caps webhooks in flight per endpoint (64 by default); one endpoint now stands for
    // every node, so it gets every node's share.
    env.GATEWAY_DELIVERY_CONCURRENCY = String(64 * options.nodes);
    teardown.add('remove cluster keys', async () => {
      const r = new Redis(redisUrl!, { maxRetriesPerRequest: 1, lazyConnect: true });
      try {
        await r.connect();
        for (const pattern of [`${clusterName}:*`, `bull:${clusterName}*`, `${clusterName}*`]) {
          const keys = await r.keys(pattern);
          for (let i = 0; i < keys.length; i += 500) await r.del(...keys.slice(i, i + 500));
        }
      } finally {
        r.disconnect();
      }
    });
  }
  const startNode = async (i: number) => {
    const id = `node-${i + 1}`;
    const port = await freePort();
    const server = await startServer({ name: id, script: join(repoRoot, 'dist', 'src', 'main.js'), nodeArgs: startNodeArgs(repoRoot), port, env: { ...env, NODE_ID: id }, logPath: join(workDir, `${id}.log`), readyPath: '/health/ready', readyTimeoutMs: 90_000 });
    teardown.add(`stop ${id}`, () => server.stop(5000));
    topology.nodes[i] = { id, server, alive: true };
  };
  // The first node migrates the database (and writes the shared secrets.json); then the others.
  await startNode(0);
  await Promise.all(Array.from({ length: options.nodes - 1 }, (_, i) => startNode(i + 1)));
  if (!options.embedded) {
    const port = Number(new URL(topology.gatewayOrigin).port);
    const gateway = await startServer({ name: 'gateway', script: join(repoRoot, 'dist', 'src', 'payments', 'gateway', 'main.js'), port, env: { ...env, GATEWAY_PORT: String(port) }, logPath: join(workDir, 'gateway.log'), readyPath: '/health' });
    teardown.add('stop gateway', () => gateway.stop(5000));
    topology.gateway = gateway;
  } else {
    topology.gatewayOrigin = topology.nodes[0].server.origin;
  }
  return topology;
}

async function json(origin: string, method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await request(`${origin}${path}`, {
    method: method as 'GET',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    headersTimeout: 5000,
    bodyTimeout: 5000,
  });
  const text = await res.body.text();
  let parsed: any = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: res.statusCode, body: parsed };
}

/** Runs the whole rehearsal; answers the exit code (0, or 1 when the audit failed). */
export async function runRehearsal(options: RehearsalOptions, teardown: Teardown): Promise<number> {
  const started = new Date();
  const stamp = stampOf(started);
  const commit = gitRevision(repoRoot);
  const workDir = mkdtempSync(join(tmpdir(), 'dealrush-rehearsal-'));
  // The servers' logs are kept (bench/results/rehearsal-<stamp>-logs/) when the run fails, or always
  // with REHEARSAL_KEEP_LOGS=1.
  let keepLogs = true;
  teardown.add('remove temporary files', async () => {
    if (keepLogs) {
      const dest = join(repoRoot, 'bench', 'results', `rehearsal-${stamp}-logs`);
      mkdirSync(dest, { recursive: true });
      for (const f of readdirSync(workDir)) if (f.endsWith('.log')) copyFileSync(join(workDir, f), join(dest, f));
      console.error(`rehearsal: server logs kept in ${dest}`);
    }
    rmSync(workDir, { recursive: true, force: true });
  });
  const secrets = { jwt: randomBytes(32).toString('base64url'), webhook: randomBytes(24).toString('base64url') };
  console.error(`rehearsal: ${options.embedded ? 'one embedded node' : `${options.nodes} nodes, Redis, mock gateway process, webhooks through a relay to the least busy live node`}, MariaDB; ${options.shoppers} shoppers, ${options.units} units, opening ${options.opensInSeconds} s after creation`);
  const topology = await startTopology(options, teardown, workDir, stamp, secrets);
  const origins = topology.nodes.map((n) => n.server.origin);
  const db = await createConnection({ uri: topology.databaseUrl, supportBigNumbers: true, bigNumberStrings: false });
  teardown.add('close database connection', () => db.end().catch(() => undefined));
  const machine = await machineInfo(db);

  const [seller] = await insertUsers(db, secrets.jwt, 1, ['shopper', 'seller']);
  const users = await insertUsers(db, secrets.jwt, options.shoppers, ['shopper']);
  await db.end();
  // A fresh cluster may answer 503 until its partitions are placed: try for up to 30 s.
  let opensAt = 0;
  let created: { status: number; body: any } = { status: 0, body: null };
  for (const until = Date.now() + 30_000; ; ) {
    opensAt = Date.now() + options.opensInSeconds * 1000;
    created = await json(origins[0], 'POST', '/api/seller/deals', seller.token, {
      title: 'Rehearsal flash sale', description: 'issue 8 rehearsal', category: 'rehearsal', price: 49_000, originalPrice: 99_000, currency: 'KRW',
      totalStock: options.units, perUserLimit: options.perUserLimit, startsAt: new Date(opensAt).toISOString(), endsAt: new Date(opensAt + 3_600_000).toISOString(),
      waitingRoom: { enabled: true, admissionPerMinute: options.admissionPerMinute, maxActive: options.maxActive },
    });
    if (created.status !== 503 || Date.now() > until) break;
    await sleep(1000);
  }
  if (created.status !== 201) throw new Error(`the deal was not created: ${created.status} ${JSON.stringify(created.body)}`);
  const dealId: string = created.body.id;
  const plans = planShoppers(users, opensAt, options);
  const deadline = opensAt + options.saleSeconds * 1000;
  console.error(`rehearsal: deal ${dealId} opens at ${new Date(opensAt).toISOString()}; the sale is driven for at most ${options.saleSeconds} s`);

  // Watch the deal ourselves (stock events: when it sold out).
  const stockEvents: Array<{ t: number; remaining: number }> = [];
  let watcher: Socket | null = null;
  let watcherNode = 0;
  let running = true;
  const watch = () => {
    if (!running) return;
    const live = topology.nodes.filter((n) => n.alive);
    const node = live[watcherNode++ % live.length];
    const socket = io(node.server.origin, { transports: ['websocket'], reconnection: false, timeout: 5000, forceNew: true });
    watcher = socket;
    socket.on('connect', () => socket.emit('deal:watch', { dealId }, () => undefined));
    socket.on('deal:stock', (e: { remainingStock: number; at: number }) => stockEvents.push({ t: e.at, remaining: e.remainingStock }));
    socket.on('deal:state', (e: { remainingStock: number; at: number }) => stockEvents.push({ t: e.at, remaining: e.remainingStock }));
    const again = () => {
      if (socket !== watcher) return;
      socket.close();
      setTimeout(watch, 500);
    };
    socket.on('disconnect', again);
    socket.on('connect_error', again);
  };
  watch();

  const timersBeforeOpen: NodeJS.Timeout[] = [];
  // The shoppers, over child processes.
  const slices: ShopperPlan[][] = Array.from({ length: options.threads }, () => []);
  plans.forEach((p, i) => slices[i % options.threads].push(p));
  const progress: ShopperProgress[] = slices.map(() => ({ arrived: 0, waiting: 0, admitted: 0, held: 0, paid: 0, finished: 0, errors: 0, sockets: 0 }));
  // Child processes: each has its own file-descriptor limit (20,000 sockets do not fit in one).
  // BENCH_SHOPPER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles them.
  const workers = slices.map((shoppers) => {
    const child = fork(join(__dirname, 'rehearsal-shopper.js'), [], { serialization: 'advanced', env: { ...process.env, REHEARSAL_SHOPPERS: '1' }, execArgv: ['--max-old-space-size=4096', ...(process.env.BENCH_SHOPPER_NODE_ARGS ?? '').split(' ').filter(Boolean)], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const job: ShopperJob = { origins, dealId, opensAt, deadline, pollMs: 30_000, holdTtlMs: options.holdTtlSeconds * 1000, shoppers };
    child.send({ type: 'job', job } as never);
    return child;
  });
  const post = (m: object) => {
    for (const w of workers) if (w.connected) w.send(m as never);
  };
  teardown.add('stop shopper processes', async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  });
  const results = workers.map(
    (w, i) =>
      new Promise<ShopperResult>((resolve, reject) => {
        w.on('message', (message) => {
          const m = message as unknown as { type: string; progress?: ShopperProgress; result?: ShopperResult; error?: string };
          if (m.type === 'progress') progress[i] = m.progress!;
          else if (m.type === 'done') resolve(m.result!);
          else if (m.type === 'failed') reject(new Error(`shopper process ${i}: ${m.error}`));
        });
        w.once('error', reject);
        w.once('exit', (code, signal) => reject(new Error(`shopper process ${i} exited (${code ?? signal}) before it was done`)));
      }),
  );

  // CPU from the opening to the end of the shoppers: the nodes, MariaDB, this load generator.
  const cpuPids = () => ({ nodes: topology.nodes.filter((n) => n.alive).map((n) => [n.id, cpuSeconds(n.server.pid)] as const), mariadb: topology.mariadbPid ?? findDatabasePid(), self: process.cpuUsage(), shoppers: workers.reduce((n, w) => n + (cpuSeconds(w.pid!) ?? 0), 0) });
  let cpuAtOpen: { at: number; nodes: Map<string, number | null>; mariadb: number | null; self: NodeJS.CpuUsage; shoppers: number } | null = null;
  timersBeforeOpen.push(setTimeout(() => {
    const c = cpuPids();
    cpuAtOpen = { at: Date.now(), nodes: new Map(c.nodes), mariadb: c.mariadb === null ? null : cpuSeconds(c.mariadb), self: c.self, shoppers: c.shoppers };
  }, Math.max(0, opensAt - Date.now())));

  // Faults.
  const faults: FaultEvent[] = [];
  const timers: NodeJS.Timeout[] = [];
  const at = (seconds: number, what: () => Promise<void>) => timers.push(setTimeout(() => void what().catch((e) => console.error(`rehearsal: fault failed: ${(e as Error).message}`)), Math.max(0, opensAt + seconds * 1000 - Date.now())));
  if (options.killNodeAt !== null) {
    at(options.killNodeAt, async () => {
      const partition = partitionName('deal', partitionOf(dealId, PARTITIONS));
      let owner: string | null = null;
      const r = new Redis(topology.redisUrl!, { maxRetriesPerRequest: 1 });
      try {
        owner = await r.get(clusterKeys(topology.clusterName!).lease(partition));
      } catch {
        owner = null;
      } finally {
        r.disconnect();
      }
      owner ??= rendezvousOwner(partition, topology.nodes.map((n) => n.id));
      const victim = topology.nodes.find((n) => n.id === owner && n.alive) ?? topology.nodes[1];
      victim.alive = false;
      process.kill(victim.server.pid, 'SIGKILL');
      faults.push({ t: Date.now() - opensAt, what: `SIGKILL ${victim.id} (owner of ${partition}, the deal's partition)` });
      console.error(`\nrehearsal: killed ${victim.id} (the deal's owner) at +${((Date.now() - opensAt) / 1000).toFixed(1)} s`);
    });
  }
  const outage = (name: string, service: PrivateService | null, seconds: number) =>
    at(seconds, async () => {
      if (!service) return;
      await service.stop();
      faults.push({ t: Date.now() - opensAt, what: `${name} stopped` });
      console.error(`\nrehearsal: ${name} stopped at +${((Date.now() - opensAt) / 1000).toFixed(1)} s`);
      await sleep(options.outageSeconds * 1000);
      await service.start();
      if (name === 'MariaDB') topology.mariadbPid = service.pid();
      faults.push({ t: Date.now() - opensAt, what: `${name} started again` });
      console.error(`\nrehearsal: ${name} started again at +${((Date.now() - opensAt) / 1000).toFixed(1)} s`);
    });
  if (options.restartRedisAt !== null) outage('Redis', topology.privateRedis, options.restartRedisAt);
  if (options.restartMariadbAt !== null) outage('MariaDB', topology.privateMariaDB, options.restartMariadbAt);

  // Sampling every second: the deal's sales view (any live node), memory of every node.
  const samples: Sample[] = [];
  const peakMemory: Record<string, number> = {};
  let soldOutAllPaidAt: number | null = null;
  let stopSent = false;
  const total = () => progress.reduce((a, p) => ({ arrived: a.arrived + p.arrived, waiting: a.waiting + p.waiting, admitted: a.admitted + p.admitted, held: a.held + p.held, paid: a.paid + p.paid, finished: a.finished + p.finished, errors: a.errors + p.errors, sockets: a.sockets + p.sockets }), { arrived: 0, waiting: 0, admitted: 0, held: 0, paid: 0, finished: 0, errors: 0, sockets: 0 });
  let lastPrint = 0;
  const sampler = setInterval(() => {
    void (async () => {
      const now = Date.now();
      for (const n of topology.nodes) {
        if (!n.alive) continue;
        const m = rss(n.server.pid);
        if (m) peakMemory[n.id] = Math.max(peakMemory[n.id] ?? 0, m.hwmMiB, m.rssMiB);
      }
      let sales: any = null;
      for (const n of topology.nodes.filter((x) => x.alive)) {
        try {
          const res = await json(n.server.origin, 'GET', `/api/seller/deals/${dealId}/sales`, seller.token);
          if (res.status === 200) {
            sales = res.body;
            break;
          }
        } catch {
          // next node
        }
      }
      const p = total();
      samples.push({ t: now - opensAt, remaining: sales?.remainingStock ?? null, held: sales?.heldUnits ?? null, sold: sales?.soldUnits ?? null, waiting: sales?.waiting ?? null, admitted: sales?.admitted ?? null, sockets: p.sockets, arrived: p.arrived });
      if (sales && sales.soldUnits === options.units && soldOutAllPaidAt === null) soldOutAllPaidAt = now;
      if (soldOutAllPaidAt !== null && !stopSent) {
        stopSent = true;
        post({ type: 'stop' });
      }
      if (now - lastPrint >= (process.stderr.isTTY ? 2000 : 5000)) {
        lastPrint = now;
        const clock = now < opensAt ? `opens in ${((opensAt - now) / 1000).toFixed(0)} s` : `+${((now - opensAt) / 1000).toFixed(0)} s`;
        const line = `[${clock}] arrived ${p.arrived}/${options.shoppers}, sockets ${p.sockets}, waiting ${sales?.waiting ?? '?'}, admitted ${p.admitted}, held ${p.held}, paid ${p.paid} | stock ${sales?.remainingStock ?? '?'} left, ${sales?.heldUnits ?? '?'} held, ${sales?.soldUnits ?? '?'}/${options.units} sold | done ${p.finished}, errors ${p.errors}`;
        if (process.stderr.isTTY) process.stderr.write(`\r${line.slice(0, 200).padEnd(200)}`);
        else console.error(line);
      }
    })();
  }, 1000);
  // Bounded: every thread is done by the deadline plus the paid-wait grace, or it is stopped.
  let shopperResults: ShopperResult[];
  try {
    shopperResults = await boundedResults({ workers, results, post, deadline, graceMs: 40_000, lateMessage: '\nrehearsal: shopper processes past their time; asking them for what they have (shoppers still going count as errors)' });
  } finally {
    for (const t of timers) clearTimeout(t);
  }
  const endedAt = Date.now();
  for (const t of timersBeforeOpen) clearTimeout(t);
  const cpu: Record<string, number | null> = {};
  const opened = cpuAtOpen as { at: number; nodes: Map<string, number | null>; mariadb: number | null; self: NodeJS.CpuUsage; shoppers: number } | null;
  if (opened) {
    const wall = (endedAt - opened.at) / 1000;
    const now = cpuPids();
    for (const [id, before] of opened.nodes) {
      const after = now.nodes.find(([n]) => n === id)?.[1] ?? null;
      cpu[id] = before === null || after === null ? null : (after - before) / wall;
    }
    const dbAfter = now.mariadb === null ? null : cpuSeconds(now.mariadb);
    cpu.mariadb = opened.mariadb === null || dbAfter === null || options.restartMariadbAt !== null ? null : (dbAfter - opened.mariadb) / wall;
    const self = process.cpuUsage(opened.self);
    cpu['load generator'] = ((self.user + self.system) / 1e6 + (now.shoppers - opened.shoppers)) / wall;
  }
  console.error(`\nrehearsal: shoppers done at +${((endedAt - opensAt) / 1000).toFixed(1)} s; settling payments, then the audit`);
  // A restarted service may still be coming back: wait for the fault timers to have finished.
  while (options.restartMariadbAt !== null && !faults.some((f) => f.what.startsWith('MariaDB started'))) await sleep(500);
  while (options.restartRedisAt !== null && !faults.some((f) => f.what.startsWith('Redis started'))) await sleep(500);
  running = false;
  (watcher as Socket | null)?.close();

  // What the handlers took, from the live nodes' own histograms (before they are stopped).
  const serverSide = await serverLatency(topology.nodes.filter((n) => n.alive).map((n) => n.server.origin), SERVER_ROUTES);
  const audit = await runAudit({ databaseUrl: topology.databaseUrl, gatewayOrigin: topology.gatewayOrigin, dealId, totalUnits: options.units, perUserLimit: options.perUserLimit, results: shopperResults, settleMs: 25_000 });
  clearInterval(sampler);
  for (const n of topology.nodes) {
    if (!n.alive) continue;
    const m = rss(n.server.pid);
    if (m) peakMemory[n.id] = Math.max(peakMemory[n.id] ?? 0, m.hwmMiB);
  }
  // The baseline row: the same shoppers against the one-transaction-per-purchase server, once the
  // Dealrush servers are stopped (the baseline gets the machine as Dealrush had it).
  let baseline: BaselineReport | null = null;
  if (options.baseline === 'also') {
    for (const n of topology.nodes) if (n.alive) await n.server.stop(5000);
    await topology.gateway?.stop(5000);
    baseline = await runBaselineScenario({ databaseUrl: topology.databaseUrl, jwtSecret: secrets.jwt, plans, plansOpenAt: opensAt, units: options.units, threads: options.threads, saleSeconds: options.saleSeconds, seed: options.seed, workDir, teardown, mariadbPid: topology.mariadbPid });
  }
  const report = buildReport({
    baseline,
    options, startedAt: started.toISOString(), commit, machine, dealId, opensAt, endedAt, samples, stockEvents, faults, peakMemory, results: shopperResults, audit,
    soldOutAllPaidAt, cpu, serverSide, topology: options.embedded ? 'one embedded node on MariaDB, in-process gateway' : `${options.nodes} nodes on loopback, Redis, MariaDB, mock gateway process (webhooks through a relay to the least busy live node)`,
  });
  console.log(`\n${renderText(report)}`);
  // Only a run that sold and passed its audits goes into docs/benchmarks.md.
  const ok = audit.ok && (baseline === null || baseline.audit.ok);
  const record = options.record && ok && audit.counts.paidUnits > 0;
  if (options.record && !record) console.error('rehearsal: not appended to docs/benchmarks.md (an audit failed or nothing was sold)');
  publish(report, stamp, { ...options, record });
  keepLogs = !ok || process.env.REHEARSAL_KEEP_LOGS === '1';
  return ok ? 0 : 1;
}

/**
 * `--baseline`: the baseline row alone (for trying it): the shoppers' plans made as a rehearsal
 * makes them (same count and seed, an opening --opens-in seconds away), driven against
 * bench/baseline-server.ts in a database of its own. Prints its summary, writes
 * bench/results/rehearsal-baseline-<stamp>.json (and --json); never touches docs/benchmarks.md.
 * Answers the exit code: 0, or 1 when its audit failed.
 */
export async function runBaselineOnly(options: RehearsalOptions, teardown: Teardown): Promise<number> {
  const started = new Date();
  const stamp = stampOf(started);
  const commit = gitRevision(repoRoot);
  const workDir = mkdtempSync(join(tmpdir(), 'dealrush-rehearsal-baseline-'));
  let keepLogs = true;
  teardown.add('remove temporary files', async () => {
    if (keepLogs) {
      const dest = join(repoRoot, 'bench', 'results', `rehearsal-baseline-${stamp}-logs`);
      mkdirSync(dest, { recursive: true });
      for (const f of readdirSync(workDir)) if (f.endsWith('.log')) copyFileSync(join(workDir, f), join(dest, f));
      console.error(`rehearsal: server logs kept in ${dest}`);
    }
    rmSync(workDir, { recursive: true, force: true });
  });
  const database = `dealrush_rehearsal_baseline_${stamp.replace(/\D/g, '')}`;
  const admin = await createConnection({ uri: ADMIN_URL });
  let machine;
  try {
    await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    teardown.add(`drop database ${database}`, async () => {
      const c = await createConnection({ uri: ADMIN_URL, connectTimeout: 5000 });
      await c.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await c.end();
    });
    machine = await machineInfo(admin);
  } finally {
    await admin.end();
  }
  const jwtSecret = randomBytes(32).toString('base64url');
  const sign = accessTokenSigner(jwtSecret, 4 * 3600);
  const users = Array.from({ length: options.shoppers }, () => {
    const id = randomUUID();
    return { id, token: sign(id, ['shopper']) };
  });
  const plansOpenAt = Date.now() + options.opensInSeconds * 1000;
  const plans = planShoppers(users, plansOpenAt, options);
  const baseline = await runBaselineScenario({ databaseUrl: `${ADMIN_URL}/${database}`, jwtSecret, plans, plansOpenAt, units: options.units, threads: options.threads, saleSeconds: options.saleSeconds, seed: options.seed, workDir, teardown });
  console.log(`\n${renderBaselineText(baseline)}`);
  const result = { ...baseline, startedAt: started.toISOString(), commit, machine };
  const resultsDir = join(repoRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const jsonPath = join(resultsDir, `rehearsal-baseline-${stamp}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
  if (options.jsonPath) {
    mkdirSync(dirname(options.jsonPath), { recursive: true });
    copyFileSync(jsonPath, options.jsonPath);
  }
  console.error(`rehearsal: the baseline alone is not recorded in docs/benchmarks.md; raw result in ${jsonPath}`);
  keepLogs = !baseline.audit.ok || process.env.REHEARSAL_KEEP_LOGS === '1';
  return baseline.audit.ok ? 0 : 1;
}

/** `npm run rehearsal -- [options]` (dispatched from bench/run.ts). */
export async function runRehearsalCommand(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseRehearsalArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`rehearsal: ${error.message}\n\n${REHEARSAL_USAGE}`);
    return 64;
  }
  if (options === 'help') {
    console.log(REHEARSAL_USAGE);
    return 0;
  }
  const teardown = new Teardown();
  const interrupted = (signal: string) => {
    console.error(`\nrehearsal: ${signal}: stopping servers and dropping the rehearsal database`);
    void teardown.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => interrupted('SIGINT'));
  process.once('SIGTERM', () => interrupted('SIGTERM'));
  try {
    return await (options.baseline === 'only' ? runBaselineOnly(options, teardown) : runRehearsal(options, teardown));
  } catch (error) {
    console.error(`rehearsal: ${(error as Error).stack ?? error}`);
    return 1;
  } finally {
    await teardown.run();
  }
}
