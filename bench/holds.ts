import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { createConnection, type Connection, type RowDataPacket } from 'mysql2/promise';
import { request } from 'undici';
import { v7 as uuidv7 } from 'uuid';
import { runLoad, type LoadResult } from './load';
import { appendMarkdown, gitRevision, machineInfo, median, renderMarkdown, renderText, writeJson, type BenchReport, type Correctness, type CpuUse, type SystemRun } from './report';
import { benchDatabaseName, cpuSeconds, findDatabasePid, machineCpuSeconds, freePort, logSummary, mint, repoRoot, startNodeArgs, startServer, type Account, type ServerProcess, type Teardown } from './servers';

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
  /** Rounds: each runs the baseline, then Dealrush, each on a fresh server, deal and shoppers. */
  rounds: number;
  /** Append the result to docs/benchmarks.md (false: print it and write bench/results/ only). */
  record: boolean;
  /** Another checkout (built) whose Dealrush also runs in every round, to compare two builds; null: none. */
  compareWith: string | null;
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
 * Runs `rounds` rounds, each the baseline (`bench/baseline-server.ts`) then Dealrush, one server at
 * a time, every run on a fresh server process, a fresh deal and shoppers of its own, against a
 * fresh MariaDB database `dealrush_bench_<timestamp>_<random>` that is dropped at the end. Interleaving
 * spreads the machine's noise over both systems; the verdict is on the ratio of the medians.
 * Checks the database against the 201s counted after every run, prints the table, appends it to
 * docs/benchmarks.md (unless `record` is false) and writes the raw summary to
 * bench/results/holds-<timestamp>.json.
 * @returns the report; `report.runs[i].correctness.ok` false means a mismatch was found.
 * @throws Error when a server does not start, a fixture cannot be made or the database is not reachable.
 */
export async function runHolds(options: HoldsOptions, teardown: Teardown): Promise<BenchReport> {
  const started = new Date();
  const commit = gitRevision(repoRoot); // what `npm run bench` has just built
  const stamp = stampOf(started);
  const database = benchDatabaseName('dealrush_bench_', stamp);
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
  // Dealrush as `npm start` runs it, and another build of it when comparing two.
  const dealrushes = [{ system: DEALRUSH, root: repoRoot }];
  if (options.compareWith) dealrushes.push({ system: `${DEALRUSH} at ${options.compareWith}`, root: options.compareWith });
  // Every Dealrush run has shoppers of its own: a cart loads all of its shopper's active holds, so
  // shoppers reused from an earlier run would come with fuller carts. (The baseline has no carts.)
  const sets = options.rounds * dealrushes.length;
  console.error(`minting ${shopperCount} shoppers for each of ${sets} Dealrush runs and 1 seller`);
  const allShoppers = await mint('shopper', shopperCount * sets, join(workDir, 'shoppers.jsonl'), env);
  const [seller] = await mint('seller', 1, join(workDir, 'seller.jsonl'), env);
  const allWarmupShoppers = options.warmupSeconds > 0 ? await mint('shopper', WARMUP_SHOPPERS * sets, join(workDir, 'warmup-shoppers.jsonl'), env) : [];
  const loadOf = (set: number) => ({
    shoppers: allShoppers.slice(set * shopperCount, (set + 1) * shopperCount),
    maxRequests,
    warmupShoppers: allWarmupShoppers.slice(set * WARMUP_SHOPPERS, (set + 1) * WARMUP_SHOPPERS),
  });
  await createBaselineTables(admin, database);

  const runs: SystemRun[] = [];
  const dbPid = findDatabasePid();
  for (let round = 1; round <= options.rounds; round++) {
    const label = (system: string) => (options.rounds > 1 ? `${system}, round ${round}/${options.rounds}` : system);

    // The baseline, on deal rows of its own.
    {
      const dealId = await insertBaselineDeal(admin, database, options.units);
      const warmupDealId = await insertBaselineDeal(admin, database, WARMUP_UNITS);
      const server = await start('baseline', join(repoRoot, 'dist', 'bench', 'baseline-server.js'), [], env, workDir, round, teardown);
      const { result, cpu } = await measure(label(BASELINE), server, dbPid, options, { ...loadOf(round - 1), dealId, warmupDealId });
      const [[deal]] = await admin.query<RowDataPacket[]>(`SELECT remaining FROM \`${database}\`.bench_deals WHERE id = ?`, [dealId]);
      const [[holds]] = await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n, COALESCE(SUM(quantity), 0) AS units FROM \`${database}\`.bench_holds WHERE deal_id = ?`, [dealId]);
      await server.stop();
      const remaining = Number(deal.remaining);
      runs.push(systemRun(BASELINE, round, result, cpu, check(result.created, options.units - remaining, remaining, Number(holds.n), Number(holds.units), options.units), server));
    }

    // Dealrush, same database, same load (two builds take turns going first).
    const order = round % 2 === 1 ? dealrushes : [...dealrushes].reverse();
    for (const { system, root } of order) {
      const set = (round - 1) * dealrushes.length + dealrushes.findIndex((d) => d.root === root);
      const server = await start(`dealrush${root === repoRoot ? '' : '-compared'}`, join(root, 'dist', 'src', 'main.js'), startNodeArgs(root), env, workDir, round, teardown);
      const dealId = await createDeal(server.origin, seller, options.units, perUserLimit);
      const warmupDealId = await createDeal(server.origin, seller, WARMUP_UNITS, WARMUP_PER_USER_LIMIT);
      const { result, cpu } = await measure(label(system), server, dbPid, options, { ...loadOf(set), dealId, warmupDealId });
      const [[deal]] = await admin.query<RowDataPacket[]>(`SELECT remaining_stock AS remaining, held_units AS held FROM \`${database}\`.deals WHERE id = ?`, [dealId]);
      const [[holds]] = await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n, COALESCE(SUM(quantity), 0) AS units FROM \`${database}\`.holds WHERE deal_id = ?`, [dealId]);
      await server.stop();
      runs.push(systemRun(system, round, result, cpu, check(result.created, Number(deal.held), Number(deal.remaining), Number(holds.n), Number(holds.units), options.units), server));
    }
    const ofRound = (system: string) => runs.find((r) => r.round === round && r.system === system)!.holdsPerSecond;
    const base = ofRound(BASELINE);
    console.error(`round ${round}/${options.rounds}: baseline ${base.toFixed(0)} holds/s, ${dealrushes.map(({ system }) => `${system} ${ofRound(system).toFixed(0)} holds/s (x${(ofRound(system) / Math.max(1, base)).toFixed(2)})`).join(', ')}`);
  }

  const { medians, ratios, roundRatios } = summarizeRounds(runs);
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
      rounds: options.rounds,
      order: 'each round baseline then Dealrush, one server at a time, each run on a fresh server, deal and shoppers',
      dealrushNodeArgs: startNodeArgs(repoRoot).join(' ') || 'none',
      ...(options.compareWith ? { comparedWith: options.compareWith, comparedNodeArgs: startNodeArgs(options.compareWith).join(' ') || 'none' } : {}),
    },
    runs,
    medians,
    roundRatios,
    ratios,
    targetMet: ratios ? ratios.throughput >= 3 && ratios.p99 <= 1 : null,
  };

  console.log(renderText(report));
  if (options.record) appendMarkdown(join(repoRoot, 'docs', 'benchmarks.md'), renderMarkdown(report));
  const jsonPath = join(repoRoot, 'bench', 'results', `holds-${stamp}.json`);
  writeJson(jsonPath, report);
  console.error(`\n${options.record ? 'appended to docs/benchmarks.md' : 'not recorded in docs/benchmarks.md (--no-record)'}; raw result in ${jsonPath}`);
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

async function start(name: string, script: string, nodeArgs: string[], env: Record<string, string>, workDir: string, round: number, teardown: Teardown): Promise<ServerProcess> {
  const server = await startServer({ name, script, nodeArgs, port: await freePort(), env, logPath: join(workDir, `${name}-${round}.log`), readyPath: '/health/ready' });
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

/**
 * The baseline's two InnoDB tables (see bench/baseline-server.ts), in `database` or, when it is
 * null, in the connection's current database; left as they are if they exist.
 */
export async function createBaselineTables(admin: Connection, database: string | null): Promise<void> {
  const prefix = database === null ? '' : `\`${database}\`.`;
  await admin.query(`CREATE TABLE IF NOT EXISTS ${prefix}bench_deals (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    remaining INT NOT NULL,
    price BIGINT NOT NULL,
    currency VARCHAR(3) NOT NULL
  ) ENGINE=InnoDB`);
  await admin.query(`CREATE TABLE IF NOT EXISTS ${prefix}bench_holds (
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
    { format: `${label.padEnd(50)} {bar} {value}/{total} s | {requests} requests | {rate} holds/s`, stream: process.stderr, hideCursor: true },
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

function systemRun(system: string, round: number, result: LoadResult, cpu: CpuUse, correctness: Correctness, server: ServerProcess): SystemRun {
  const holdsPerSecond = result.elapsedMs > 0 ? (result.created * 1000) / result.elapsedMs : 0;
  return { system, round, result, holdsPerSecond, correctness, cpu, serverLog: logSummary(server.logPath) };
}

/**
 * Each system's median holds/s and p99 over its rounds, Dealrush / baseline of those medians
 * (the verdict), and the throughput ratio of each round on its own (how much noise moved it).
 */
export function summarizeRounds(runs: SystemRun[]): Pick<BenchReport, 'medians' | 'ratios' | 'roundRatios'> {
  const of = (system: string) => runs.filter((r) => r.system === system);
  const stats = (list: SystemRun[]) => ({ holdsPerSecond: median(list.map((r) => r.holdsPerSecond)), p99: median(list.map((r) => r.result.latency.p99)), rounds: list.length });
  const medians: BenchReport['medians'] = {};
  for (const system of new Set([BASELINE, DEALRUSH, ...runs.map((r) => r.system)])) medians[system] = stats(of(system));
  const dealrush = medians[DEALRUSH];
  const baseline = medians[BASELINE];
  const ratios = dealrush.rounds > 0 && baseline.rounds > 0 && baseline.holdsPerSecond > 0 ? { throughput: dealrush.holdsPerSecond / baseline.holdsPerSecond, p99: dealrush.p99 / baseline.p99 } : null;
  const roundRatios: number[] = [];
  for (const d of of(DEALRUSH)) {
    const b = of(BASELINE).find((r) => r.round === d.round);
    if (b && b.holdsPerSecond > 0) roundRatios.push(d.holdsPerSecond / b.holdsPerSecond);
  }
  return { medians, ratios, roundRatios };
}
