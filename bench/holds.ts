import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { request } from 'undici';
import { v7 as uuidv7 } from 'uuid';
import { runLoad, type LoadResult } from './load';
import { appendMarkdown, gitRevision, machineInfo, renderMarkdown, renderText, writeJson, type BenchReport, type Correctness, type CpuUse, type SystemRun } from './report';
import { cpuSeconds, findDatabasePid, machineCpuSeconds, freePort, logSummary, mint, repoRoot, startServer, type Account, type ServerProcess, type Teardown } from './servers';

/** Settings of one `holds` run (see `bench/run.ts` for the command line). */
export interface HoldsOptions {
  durationSeconds: number;
  connections: number;
  units: number;
  /** Database pool size of both servers. */
  poolSize: number;
  /** Shoppers minted; null: `units / 5` (each holds about 5 units by the sell-out). */
  shoppers: number | null;
  /** Seconds of unmeasured load before each system's run (JIT, pools), on a deal and shoppers of its own. */
  warmupSeconds: number;
  quick: boolean;
}

/** Where MariaDB is (the bench creates and drops its own database there). */
const ADMIN_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
/** Smallest per-user limit of the deal (the API allows 1..1000). */
const MIN_PER_USER_LIMIT = 10;
/** The warm-up: its own shoppers (so the measured shoppers' carts stay cold) and its own deal. */
const WARMUP_SHOPPERS = 1000;
const WARMUP_MAX_REQUESTS = 50_000;
const WARMUP_UNITS = WARMUP_MAX_REQUESTS;
const WARMUP_PER_USER_LIMIT = 1000;
const PRICE = 9_900;
const CURRENCY = 'KRW';
export const DEALRUSH = 'Dealrush actor';
export const BASELINE = 'baseline SELECT FOR UPDATE';

/** A UTC timestamp usable in names: `20251121T103600Z`. */
const stampOf = (date: Date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/**
 * The `holds` scenario: one hot deal of `units` units, `connections` closed-loop connections each
 * holding one unit per request (`POST /api/cart/items`), for `durationSeconds` or until sold out.
 * Runs Dealrush, then the baseline (`bench/baseline-server.ts`), one at a time, against a fresh
 * MariaDB database `dealrush_bench_<timestamp>` that is dropped at the end. Checks the database
 * against the 201s counted, prints the table, appends it to docs/benchmarks.md and writes the raw
 * summary to bench/results/holds-<timestamp>.json.
 * @returns the report; `report.runs[i].correctness.ok` false means a mismatch was found.
 * @throws Error when a server does not start, a fixture cannot be made or the database is not reachable.
 */
export async function runHolds(options: HoldsOptions, teardown: Teardown): Promise<BenchReport> {
  const started = new Date();
  const commit = gitRevision(repoRoot); // what `npm run bench` has just built
  const stamp = stampOf(started);
  const database = `dealrush_bench_${stamp.replace(/\D/g, '')}`;
  const admin = await createConnection({ uri: ADMIN_URL, multipleStatements: false });
  teardown.add('close admin connection', () => admin.end());
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  teardown.add(`drop database ${database}`, () => admin.query(`DROP DATABASE IF EXISTS \`${database}\``));
  const workDir = mkdtempSync(join(tmpdir(), 'dealrush-bench-'));
  teardown.add('remove temporary files', async () => rmSync(workDir, { recursive: true, force: true }));
  console.error(`bench database ${database}, work files in ${workDir}`);

  const databaseUrl = `${ADMIN_URL.replace(/\/+$/, '')}/${database}`;
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    DATA_DIR: join(workDir, 'data'),
    JWT_SECRET: randomBytes(32).toString('base64url'),
    DEMO_DATA: '0',
    SERVE_CLIENT: '0',
    LOG_LEVEL: 'warn',
    DB_POOL_SIZE: String(options.poolSize),
    HOLD_TTL_SECONDS: '3600',
    RATE_LIMIT_HOLDS_PER_USER: '0', RATE_LIMIT_HOLDS_PER_ADDRESS: '0', // one client address, thousands of holds a second: no abuse limit
  };

  // The count bound of each load. Shopper i % n sends request i, so nobody sends more than
  // ceil(maxRequests / n) requests: with the limit at least that, it can never bind.
  const maxRequests = options.units * 2;
  const { shoppers: shopperCount, perUserLimit } = shoppersAndLimit(options.units, maxRequests, options.shoppers);
  console.error(`minting ${shopperCount} shoppers and 1 seller`);
  const shoppers = await mint('shopper', shopperCount, join(workDir, 'shoppers.jsonl'), env);
  const [seller] = await mint('seller', 1, join(workDir, 'seller.jsonl'), env);
  const warmupShoppers = options.warmupSeconds > 0 ? await mint('shopper', WARMUP_SHOPPERS, join(workDir, 'warmup-shoppers.jsonl'), env) : [];
  const load = { shoppers, maxRequests, warmupShoppers };

  const runs: SystemRun[] = [];
  const dbPid = findDatabasePid();

  // 1. Dealrush.
  {
    const server = await start('dealrush', join(repoRoot, 'dist', 'src', 'main.js'), env, workDir, teardown);
    const dealId = await createDeal(server.origin, seller, options.units, perUserLimit);
    const warmupDealId = await createDeal(server.origin, seller, WARMUP_UNITS, WARMUP_PER_USER_LIMIT);
    const { result, cpu } = await measure(DEALRUSH, server, dbPid, options, { ...load, dealId, warmupDealId });
    const [[deal]] = await admin.query<RowDataPacket[]>(`SELECT remaining_stock AS remaining, held_units AS held FROM \`${database}\`.deals WHERE id = ?`, [dealId]);
    const [[holds]] = await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n, COALESCE(SUM(quantity), 0) AS units FROM \`${database}\`.holds WHERE deal_id = ?`, [dealId]);
    await server.stop();
    runs.push(systemRun(DEALRUSH, result, cpu, check(result.created, Number(deal.held), Number(deal.remaining), Number(holds.n), Number(holds.units), options.units), server));
  }

  // 2. The baseline, same database, same load.
  {
    await createBaselineTables(admin, database);
    const dealId = await insertBaselineDeal(admin, database, options.units);
    const warmupDealId = await insertBaselineDeal(admin, database, WARMUP_UNITS);
    const server = await start('baseline', join(repoRoot, 'dist', 'bench', 'baseline-server.js'), env, workDir, teardown);
    const { result, cpu } = await measure(BASELINE, server, dbPid, options, { ...load, dealId, warmupDealId });
    const [[deal]] = await admin.query<RowDataPacket[]>(`SELECT remaining FROM \`${database}\`.bench_deals WHERE id = ?`, [dealId]);
    const [[holds]] = await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n, COALESCE(SUM(quantity), 0) AS units FROM \`${database}\`.bench_holds WHERE deal_id = ?`, [dealId]);
    await server.stop();
    const remaining = Number(deal.remaining);
    runs.push(systemRun(BASELINE, result, cpu, check(result.created, options.units - remaining, remaining, Number(holds.n), Number(holds.units), options.units), server));
  }

  const [dealrush, baseline] = runs;
  const ratios = baseline.holdsPerSecond > 0 ? { throughput: dealrush.holdsPerSecond / baseline.holdsPerSecond, p99: dealrush.result.latency.p99 / baseline.result.latency.p99 } : null;
  const report: BenchReport = {
    scenario: 'holds',
    startedAt: started.toISOString(),
    commit,
    machine: await machineInfo(admin),
    parameters: {
      quick: options.quick,
      units: options.units,
      deals: 1,
      perUserLimit,
      shoppers: shopperCount,
      connections: options.connections,
      durationSeconds: options.durationSeconds,
      warmupSeconds: options.warmupSeconds,
      maxRequests,
      dbPoolSize: options.poolSize,
      holdTtlSeconds: 3600,
      order: 'Dealrush then baseline, one server at a time',
    },
    runs,
    ratios,
    targetMet: ratios ? ratios.throughput >= 3 && ratios.p99 <= 1 : null,
  };

  console.log(renderText(report));
  appendMarkdown(join(repoRoot, 'docs', 'benchmarks.md'), renderMarkdown(report));
  const jsonPath = join(repoRoot, 'bench', 'results', `holds-${stamp}.json`);
  writeJson(jsonPath, report);
  console.error(`\nappended to docs/benchmarks.md; raw result in ${jsonPath}`);
  return report;
}

/**
 * How many shoppers to mint and the deal's per-user limit, such that the limit never binds.
 * @throws RangeError when `shoppers` is too few for a limit of at most 1000.
 */
export function shoppersAndLimit(units: number, maxRequests: number, shoppers: number | null): { shoppers: number; perUserLimit: number } {
  const count = shoppers ?? Math.ceil(maxRequests / MIN_PER_USER_LIMIT);
  const needed = Math.ceil(maxRequests / count);
  if (needed > 1000) throw new RangeError(`--shoppers must be at least ${Math.ceil(maxRequests / 1000)} for ${units} units (the per-user limit is at most 1000)`);
  return { shoppers: count, perUserLimit: Math.min(units, Math.max(MIN_PER_USER_LIMIT, needed)) };
}

async function start(name: string, script: string, env: Record<string, string>, workDir: string, teardown: Teardown): Promise<ServerProcess> {
  const server = await startServer({ name, script, port: await freePort(), env, logPath: join(workDir, `${name}.log`), readyPath: '/health/ready' });
  teardown.add(`stop ${name}`, () => server.stop());
  return server;
}

/** Creates the hot deal through the API, open at once (it started a second ago). */
async function createDeal(origin: string, seller: Account, units: number, perUserLimit: number): Promise<string> {
  const now = Date.now();
  const response = await request(`${origin}/api/seller/deals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${seller.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      title: 'Bench hot deal',
      description: 'One hot deal for the holds benchmark.',
      category: 'bench',
      price: PRICE,
      originalPrice: 19_900,
      currency: CURRENCY,
      totalStock: units,
      perUserLimit,
      startsAt: new Date(now - 1000).toISOString(),
      endsAt: new Date(now + 2 * 3600_000).toISOString(),
    }),
  });
  const text = await response.body.text();
  if (response.statusCode !== 201) throw new Error(`creating the deal failed: ${response.statusCode} ${text}`);
  const deal = JSON.parse(text) as { id: string; status: string; remainingStock: number };
  if (deal.status !== 'open' || deal.remainingStock !== units) throw new Error(`the deal is ${deal.status} with ${deal.remainingStock} units, expected open with ${units}`);
  return deal.id;
}

/** The baseline's two InnoDB tables. */
async function createBaselineTables(admin: Connection, database: string): Promise<void> {
  await admin.query(`CREATE TABLE \`${database}\`.bench_deals (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    remaining INT NOT NULL,
    price BIGINT NOT NULL,
    currency VARCHAR(3) NOT NULL
  ) ENGINE=InnoDB`);
  await admin.query(`CREATE TABLE \`${database}\`.bench_holds (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    deal_id VARCHAR(36) NOT NULL,
    user_id VARCHAR(36) NOT NULL,
    quantity INT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    KEY ix_bench_holds_deal (deal_id),
    KEY ix_bench_holds_user (user_id)
  ) ENGINE=InnoDB`);
}

/** A baseline deal row with `units` remaining; returns its id. */
async function insertBaselineDeal(admin: Connection, database: string, units: number): Promise<string> {
  const id = uuidv7();
  await admin.query(`INSERT INTO \`${database}\`.bench_deals (id, remaining, price, currency) VALUES (?, ?, ?, ?)`, [id, units, PRICE, CURRENCY]);
  return id;
}

/** What one system is driven with: the measured deal and shoppers, and the warm-up's. */
interface LoadPlan {
  dealId: string;
  shoppers: Account[];
  maxRequests: number;
  warmupDealId: string;
  warmupShoppers: Account[];
}

/**
 * Warms the server up (unmeasured, on the warm-up deal), then runs the measured load with a live
 * progress line, and the CPU that the server, MariaDB and this process used meanwhile.
 */
async function measure(system: string, server: ServerProcess, dbPid: number | null, options: HoldsOptions, plan: LoadPlan): Promise<{ result: LoadResult; cpu: CpuUse }> {
  if (options.warmupSeconds > 0 && plan.warmupShoppers.length > 0) {
    await drive(`${system} (warm-up)`, server.origin, options.connections, options.warmupSeconds, plan.warmupDealId, plan.warmupShoppers, WARMUP_MAX_REQUESTS);
  }
  const before = { server: cpuSeconds(server.pid), database: dbPid === null ? null : cpuSeconds(dbPid), self: process.cpuUsage(), machine: machineCpuSeconds() };
  const result = await drive(system, server.origin, options.connections, options.durationSeconds, plan.dealId, plan.shoppers, plan.maxRequests);
  const wall = result.elapsedMs / 1000;
  const serverAfter = cpuSeconds(server.pid);
  const databaseAfter = dbPid === null ? null : cpuSeconds(dbPid);
  const self = process.cpuUsage(before.self);
  const machine = machineCpuSeconds();
  const perWall = (a: number | null, b: number | null) => (a === null || b === null || wall <= 0 ? null : (b - a) / wall);
  const cpu: CpuUse = {
    server: perWall(before.server, serverAfter),
    database: perWall(before.database, databaseAfter),
    loadGenerator: wall > 0 ? (self.user + self.system) / 1e6 / wall : null,
    other: null,
    steal: perWall(before.machine?.steal ?? null, machine?.steal ?? null),
  };
  const busy = perWall(before.machine?.busy ?? null, machine?.busy ?? null);
  if (busy !== null && cpu.server !== null && cpu.loadGenerator !== null) cpu.other = Math.max(0, busy - cpu.server - (cpu.database ?? 0) - cpu.loadGenerator);
  return { result, cpu };
}

/** One closed-loop load of `POST /api/cart/items` on `dealId`, shopper `i % n` sending request `i`. */
async function drive(label: string, origin: string, connections: number, seconds: number, dealId: string, shoppers: Account[], maxRequests: number): Promise<LoadResult> {
  const body = JSON.stringify({ dealId, quantity: 1 });
  const auth = shoppers.map((s) => `Bearer ${s.accessToken}`);
  const bar = new SingleBar(
    { format: `${label.padEnd(36)} {bar} {value}/{total} s | {requests} requests | {rate} holds/s`, stream: process.stderr, hideCursor: true },
    Presets.shades_classic,
  );
  bar.start(seconds, 0, { requests: 0, rate: 0 });
  let last = { at: 0, created: 0 };
  try {
    return await runLoad({
      origin,
      connections,
      durationMs: seconds * 1000,
      maxRequests,
      makeRequest: (i) => ({
        method: 'POST',
        path: '/api/cart/items',
        headers: { authorization: auth[i % auth.length], 'content-type': 'application/json', 'idempotency-key': randomUUID() },
        body,
      }),
      stopOn: (outcome) => outcome === 'SOLD_OUT',
      onTick: ({ elapsedMs, requests, created }) => {
        const rate = elapsedMs > last.at ? ((created - last.created) * 1000) / (elapsedMs - last.at) : 0;
        last = { at: elapsedMs, created };
        bar.update(Math.min(seconds, Math.round(elapsedMs / 100) / 10), { requests, rate: rate.toFixed(0) });
      },
    });
  } finally {
    bar.stop();
  }
}

function check(created: number, heldUnits: number, remaining: number, holdRows: number, holdUnits: number, total: number): Correctness {
  const ok = created === heldUnits && created === holdRows && created === holdUnits && remaining === total - heldUnits && remaining >= 0;
  return { created, heldUnits, remaining, holdRows, holdUnits, ok };
}

function systemRun(system: string, result: LoadResult, cpu: CpuUse, correctness: Correctness, server: ServerProcess): SystemRun {
  const holdsPerSecond = result.elapsedMs > 0 ? (result.created * 1000) / result.elapsedMs : 0;
  return { system, result, holdsPerSecond, correctness, cpu, serverLog: logSummary(server.logPath) };
}
