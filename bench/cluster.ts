import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import Redis from 'ioredis';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { Pool, request } from 'undici';
import { runLoad, summarize, type LatencySummary, type LoadResult } from './load';
import { scenarioArgs, usageFailure, wholeNumber } from './cli';
import { appendMarkdown, gitRevision, machineInfo, writeJson, type MachineInfo } from './report';
import { benchDatabaseName, freePort, logSummary, mint, repoRoot, startNodeArgs, startServer, Teardown, type Account, type ServerProcess } from './servers';

/**
 * The `cluster` scenario (issue 3's benchmark): holds on one hot deal through three set-ups, in
 * the same run, against the same MariaDB:
 * - embedded: one node, in-process mailboxes (the baseline);
 * - Redis transport, one node: REDIS_URL set and `CLUSTER_LOCAL_DELIVERY=0`, so every actor message
 *   (the hold to the deal, the cart's list) goes through a Redis Stream and its reply through
 *   pub/sub, even though the node owns every partition: the cost of the transport itself;
 * - three nodes: the load spread over three processes; messages for actors another node owns
 *   travel over Redis.
 * Each set-up: a closed loop for `seconds` (peak holds/s), then an open loop at half that rate for
 * `seconds` (latency without queueing, measured from each request's scheduled send time, so a
 * stall is not hidden). Targets: the Redis transport keeps at least half of the embedded
 * throughput; mailbox p99 from send to reply under 20 ms at half of peak. The mailbox latency is
 * read from every node's `dealrush_actor_ask_seconds` histograms (each ask from send to reply at
 * the caller, the deal's group commit included) before and after the half-load window; the HTTP
 * latency is shown next to it (it also contains HTTP, JWT, idempotency and CPU queueing).
 */
export interface ClusterOptions {
  seconds: number;
  connections: number;
  record: boolean;
  quick: boolean;
}

export interface ClusterRun {
  system: string;
  nodes: number;
  peak: { holdsPerSecond: number; latency: LatencySummary; errors: Record<string, number> };
  half: { rate: number; achieved: number; latency: LatencySummary; errors: Record<string, number>; mailbox: MailboxLatency[]; eventLoopLag: EventLoopLag[] };
  check: { created: number; held: number; rows: number; ok: boolean };
  serverLog: { warn: number; error: number; fatal: number };
}

export interface ClusterReport {
  scenario: 'cluster';
  startedAt: string;
  commit: string;
  machine: MachineInfo;
  parameters: Record<string, string | number | boolean>;
  runs: ClusterRun[];
  redisShareOfEmbedded: number | null;
  targets: { redisKeepsHalf: boolean | null; p99Under20msAtHalf: Record<string, boolean> };
}

/** Mailbox (ask) latency of one actor kind over the half-load window, from the nodes' histograms. */
export interface MailboxLatency {
  kind: string;
  /** Routes seen (`in-process`, `local`, `redis`) with their ask counts. */
  routes: Record<string, number>;
  count: number;
  /** Milliseconds, interpolated within the histogram's buckets (about ±20 %). */
  p50: number;
  p99: number;
  mean: number;
}

/** `dealrush_actor_ask_seconds` of every node: per `kind|transport`, cumulative bucket counts by bound (s), and the sum (s). */
type AskHistograms = Map<string, { kind: string; route: string; buckets: Map<number, number>; sum: number }>;

/** Reads and adds up the ask-latency histograms of `origins` (their `/metrics`). */
async function scrapeAskLatency(origins: string[], loopLag?: EventLoopLag[]): Promise<AskHistograms> {
  const out: AskHistograms = new Map();
  for (const origin of origins) {
    const res = await request(`${origin}/metrics`);
    const text = await res.body.text();
    const lag: EventLoopLag = { p99: NaN, max: NaN };
    for (const line of text.split('\n')) {
      const l = /^nodejs_eventloop_lag_(p99|max)_seconds (\S+)$/.exec(line);
      if (l) lag[l[1] as 'p99' | 'max'] = Number(l[2]) * 1000;
      const m = /^dealrush_actor_ask_seconds_(bucket|sum)\{([^}]*)\} (\S+)$/.exec(line);
      if (!m) continue;
      const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
      const key = `${labels.kind}|${labels.transport}`;
      let h = out.get(key);
      if (!h) out.set(key, (h = { kind: labels.kind, route: labels.transport, buckets: new Map(), sum: 0 }));
      const value = Number(m[3]);
      if (m[1] === 'sum') h.sum += value;
      else {
        const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
        h.buckets.set(le, (h.buckets.get(le) ?? 0) + value);
      }
    }
    loopLag?.push(lag);
  }
  return out;
}

/**
 * A node's event-loop delay (ms) since its previous scrape: prom-client's default metrics read
 * perf_hooks' `monitorEventLoopDelay` (10 ms resolution) and reset it on every scrape.
 */
export interface EventLoopLag {
  p99: number;
  max: number;
}

/** The asks between two scrapes, per kind (routes merged): count, p50, p99 and mean in ms. */
export function mailboxLatency(before: AskHistograms, after: AskHistograms): MailboxLatency[] {
  const kinds = new Map<string, { routes: Record<string, number>; buckets: Map<number, number>; sum: number }>();
  for (const [key, h] of after) {
    const b = before.get(key);
    let k = kinds.get(h.kind);
    if (!k) kinds.set(h.kind, (k = { routes: {}, buckets: new Map(), sum: 0 }));
    for (const [le, n] of h.buckets) k.buckets.set(le, (k.buckets.get(le) ?? 0) + n - (b?.buckets.get(le) ?? 0));
    k.sum += h.sum - (b?.sum ?? 0);
    const count = h.buckets.get(Infinity)! - (b?.buckets.get(Infinity) ?? 0);
    if (count > 0) k.routes[h.route] = (k.routes[h.route] ?? 0) + count;
  }
  const out: MailboxLatency[] = [];
  for (const [kind, k] of kinds) {
    const bounds = [...k.buckets.keys()].sort((x, y) => x - y);
    const count = k.buckets.get(Infinity) ?? 0;
    if (count === 0) continue;
    // Prometheus' histogram_quantile: linear within the bucket that holds the rank.
    const quantile = (q: number) => {
      const rank = q * count;
      let lower = 0;
      let below = 0;
      for (const le of bounds) {
        const cumulative = k.buckets.get(le)!;
        if (cumulative >= rank) {
          if (le === Infinity) return lower * 1000;
          return (lower + ((le - lower) * (rank - below)) / Math.max(1, cumulative - below)) * 1000;
        }
        lower = le;
        below = cumulative;
      }
      return NaN;
    };
    out.push({ kind, routes: k.routes, count, p50: quantile(0.5), p99: quantile(0.99), mean: (k.sum / count) * 1000 });
  }
  return out.sort((a, b) => a.kind.localeCompare(b.kind));
}

/** The worst p99 over the kinds (the mailbox latency the target is judged on). */
const worstMailboxP99 = (run: ClusterRun) => Math.max(...run.half.mailbox.map((m) => m.p99));

const ADMIN_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const UNITS = 10_000_000;
const HOLDS_PER_SHOPPER = 5;

const stampOf = (date: Date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export async function runCluster(options: ClusterOptions, teardown: Teardown): Promise<ClusterReport> {
  const started = new Date();
  const stamp = stampOf(started);
  const database = benchDatabaseName('dealrush_bench_c', stamp);
  const admin = await createConnection({ uri: ADMIN_URL });
  teardown.add('close admin connection', () => admin.end());
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  teardown.add(`drop database ${database}`, () => admin.query(`DROP DATABASE IF EXISTS \`${database}\``));
  const workDir = mkdtempSync(join(tmpdir(), 'dealrush-bench-'));
  teardown.add('remove temporary files', async () => rmSync(workDir, { recursive: true, force: true }));
  const clusterName = `bench${stamp.replace(/\D/g, '')}`;
  teardown.add('remove cluster keys', async () => {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    const keys = await redis.keys(`${clusterName}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  const env: Record<string, string> = {
    DATABASE_URL: `${ADMIN_URL.replace(/\/+$/, '')}/${database}`,
    DATA_DIR: join(workDir, 'data'),
    JWT_SECRET: randomBytes(32).toString('base64url'),
    DEMO_DATA: '0',
    SERVE_CLIENT: '0',
    LOG_LEVEL: 'warn',
    DB_POOL_SIZE: '10',
    HOLD_TTL_SECONDS: '3600',
    RATE_LIMIT_HOLDS_PER_USER: '0',
    RATE_LIMIT_HOLDS_PER_ADDRESS: '0',
  };
  // Enough shoppers that nobody holds more than about five units per set-up (carts stay small).
  const perSystem = Math.ceil((options.seconds * 8000 * 1.5) / HOLDS_PER_SHOPPER);
  const setups = [
    { system: 'embedded (in-process mailboxes)', nodes: 1, extra: {} as Record<string, string> },
    { system: 'Redis transport, 1 node (every message via Redis)', nodes: 1, extra: { REDIS_URL, CLUSTER_NAME: `${clusterName}a`, CLUSTER_LOCAL_DELIVERY: '0' } },
    { system: 'cluster, 3 nodes', nodes: 3, extra: { REDIS_URL, CLUSTER_NAME: `${clusterName}b` } },
  ];
  console.error(`bench database ${database}; minting ${perSystem * setups.length} shoppers and a seller`);
  const allShoppers = await mint('shopper', perSystem * setups.length, join(workDir, 'shoppers.jsonl'), env);
  const [seller] = await mint('seller', 1, join(workDir, 'seller.jsonl'), env);

  const runs: ClusterRun[] = [];
  for (const [i, setup] of setups.entries()) {
    const shoppers = allShoppers.slice(i * perSystem, (i + 1) * perSystem);
    const servers: ServerProcess[] = [];
    for (let n = 0; n < setup.nodes; n++) {
      const port = await freePort();
      const server = await startServer({ name: `node-${i}-${n}`, script: join(repoRoot, 'dist', 'src', 'main.js'), nodeArgs: startNodeArgs(repoRoot), port, env: { ...env, ...setup.extra, NODE_ID: `bench-${i}-${n}` }, logPath: join(workDir, `node-${i}-${n}.log`), readyPath: '/health/ready' });
      teardown.add(`stop node-${i}-${n}`, () => server.stop());
      servers.push(server);
    }
    if (setup.nodes > 1) await new Promise((r) => setTimeout(r, 3000)); // partitions settle over the nodes
    const dealId = await createDeal(servers[0].origin, seller);
    const auth = shoppers.map((s) => `Bearer ${s.accessToken}`);
    let next = 0;
    const makeRequest = () => ({
      method: 'POST' as const,
      path: '/api/cart/items',
      headers: { authorization: auth[next++ % auth.length], 'content-type': 'application/json', 'idempotency-key': randomUUID() },
      body: JSON.stringify({ dealId, quantity: 1 }),
    });
    // Peak: a closed loop, the connections spread over the nodes.
    const peakResults = await withBar(`${setup.system}: peak`, options.seconds, () =>
      Promise.all(servers.map((s) => runLoad({ origin: s.origin, connections: Math.ceil(options.connections / servers.length), durationMs: options.seconds * 1000, maxRequests: 2_000_000, makeRequest }))),
    );
    const peakCreated = peakResults.reduce((n, r) => n + r.created, 0);
    const peakSeconds = Math.max(...peakResults.map((r) => r.elapsedMs)) / 1000;
    const peakRate = peakCreated / peakSeconds;
    // Half of peak: an open loop at a fixed rate; the nodes' ask-latency histograms are read
    // before and after it, and their difference is the mailbox latency of this window.
    const before = await scrapeAskLatency(servers.map((s) => s.origin));
    const half = await withBar(`${setup.system}: half load`, options.seconds, () => openLoop(servers.map((s) => s.origin), peakRate / 2, options.seconds, makeRequest));
    // Each node's event-loop delay over the same window: how much of the mailbox tail is waiting for the CPU.
    const eventLoopLag: EventLoopLag[] = [];
    const mailbox = mailboxLatency(before, await scrapeAskLatency(servers.map((s) => s.origin), eventLoopLag));
    const [[deal]] = await admin.query<RowDataPacket[]>(`SELECT held_units FROM \`${database}\`.deals WHERE id = ?`, [dealId]);
    const [[rows]] = await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${database}\`.holds WHERE deal_id = ?`, [dealId]);
    const created = peakCreated + half.created;
    for (const s of servers) await s.stop();
    const logs = servers.map((s) => logSummary(s.logPath));
    runs.push({
      system: setup.system,
      nodes: setup.nodes,
      peak: { holdsPerSecond: peakRate, latency: summarize(peakResults.flatMap((r) => [r.latency.p50])), errors: mergeErrors(peakResults) },
      half: { rate: peakRate / 2, achieved: half.created / options.seconds, latency: half.latency, errors: half.errors, mailbox, eventLoopLag },
      check: { created, held: Number(deal.held_units), rows: Number(rows.n), ok: created === Number(deal.held_units) && created === Number(rows.n) },
      serverLog: { warn: sum(logs, 'warn'), error: sum(logs, 'error'), fatal: sum(logs, 'fatal') },
    });
    // The peak latency summary above only kept medians per node; keep the real p99 of the busiest node.
    runs[runs.length - 1].peak.latency = peakResults.map((r) => r.latency).sort((a, b) => b.p99 - a.p99)[0];
  }

  const embedded = runs[0].peak.holdsPerSecond;
  const viaRedis = runs[1].peak.holdsPerSecond;
  const report: ClusterReport = {
    scenario: 'cluster',
    startedAt: started.toISOString(),
    commit: gitRevision(repoRoot),
    machine: await machineInfo(admin),
    parameters: { quick: options.quick, seconds: options.seconds, connections: options.connections, units: UNITS, dbPoolSize: 10, partitions: 8 },
    runs,
    redisShareOfEmbedded: embedded > 0 ? viaRedis / embedded : null,
    targets: { redisKeepsHalf: embedded > 0 ? viaRedis / embedded >= 0.5 : null, p99Under20msAtHalf: Object.fromEntries(runs.map((r) => [r.system, r.half.mailbox.length > 0 && worstMailboxP99(r) < 20])) },
  };
  console.log(renderText(report));
  if (options.record) appendMarkdown(join(repoRoot, 'docs', 'benchmarks.md'), renderMarkdown(report));
  const jsonPath = join(repoRoot, 'bench', 'results', `cluster-${stamp}.json`);
  writeJson(jsonPath, report);
  console.error(`\n${options.record ? 'appended to docs/benchmarks.md' : 'not recorded (--no-record)'}; raw result in ${jsonPath}`);
  return report;
}

const sum = (logs: Array<Record<string, unknown>>, key: string) => logs.reduce((n, l) => n + Number(l[key] ?? 0), 0);

function mergeErrors(results: LoadResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.outcomes)) if (k !== '201') out[k] = (out[k] ?? 0) + v;
  return out;
}

async function withBar<T>(label: string, seconds: number, work: () => Promise<T>): Promise<T> {
  const bar = new SingleBar({ format: `${label.padEnd(62)} {bar} {value}/{total} s`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  bar.start(seconds, 0);
  const t0 = Date.now();
  const timer = setInterval(() => bar.update(Math.min(seconds, Math.round((Date.now() - t0) / 100) / 10)), 250);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    bar.update(seconds);
    bar.stop();
  }
}

async function createDeal(origin: string, seller: Account): Promise<string> {
  const now = Date.now();
  const res = await request(`${origin}/api/seller/deals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${seller.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      title: 'Bench cluster deal', description: 'cluster benchmark', category: 'bench', price: 9900, originalPrice: 19900, currency: 'KRW',
      totalStock: UNITS, perUserLimit: 1000, startsAt: new Date(now - 1000).toISOString(), endsAt: new Date(now + 3_600_000).toISOString(),
    }),
  });
  const body = (await res.body.json()) as { id?: string };
  if (res.statusCode !== 201 || !body.id) throw new Error(`bench deal not created: ${res.statusCode} ${JSON.stringify(body)}`);
  return body.id;
}

/**
 * Sends requests at `rate` per second for `seconds`, round-robin over `origins`, whatever the
 * answers do (an open loop), and measures each from its scheduled send time.
 */
async function openLoop(origins: string[], rate: number, seconds: number, makeRequest: () => { method: 'POST'; path: string; headers: Record<string, string>; body: string }) {
  const pools = origins.map((o) => new Pool(o, { connections: 256, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 }));
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let created = 0;
  const total = Math.floor(rate * seconds);
  const t0 = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const pool = pools[i % pools.length];
    inFlight.push(
      pool.request(makeRequest()).then(
        async (res) => {
          const text = await res.body.text();
          latencies.push(performance.now() - due);
          if (res.statusCode === 201) created += 1;
          else {
            const code = (() => { try { return (JSON.parse(text) as { code?: string }).code ?? `HTTP ${res.statusCode}`; } catch { return `HTTP ${res.statusCode}`; } })();
            errors[code] = (errors[code] ?? 0) + 1;
          }
        },
        (err: { code?: string }) => {
          latencies.push(performance.now() - due);
          errors[err.code ?? 'ERROR'] = (errors[err.code ?? 'ERROR'] ?? 0) + 1;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  for (const p of pools) await p.close();
  return { created, latency: summarize(latencies), errors };
}

const f0 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(0));
const f1 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(1));
const HEAD = ['set-up', 'nodes', 'peak holds/s', 'peak p99 ms', 'half-load rate/s', 'half HTTP p50 ms', 'half HTTP p99 ms', 'half mailbox p50 / p99 ms by kind', 'half event-loop delay p99 / max ms (worst node)', 'errors', 'database check'];
const mailboxCell = (run: ClusterRun) => run.half.mailbox.map((m) => `${m.kind} ${f1(m.p50)} / ${f1(m.p99)}`).join('; ') || 'n/a';
const lagCell = (run: ClusterRun) => {
  const lags = run.half.eventLoopLag.filter((l) => Number.isFinite(l.p99));
  return lags.length === 0 ? 'n/a' : `${f1(Math.max(...lags.map((l) => l.p99)))} / ${f1(Math.max(...lags.map((l) => l.max)))}`;
};
const rows = (r: ClusterReport) =>
  r.runs.map((run) => [
    run.system, String(run.nodes), f0(run.peak.holdsPerSecond), f1(run.peak.latency.p99), f0(run.half.rate), f1(run.half.latency.p50), f1(run.half.latency.p99), mailboxCell(run), lagCell(run),
    Object.entries({ ...run.peak.errors, ...run.half.errors }).map(([k, v]) => `${k} ${v}`).join(', ') || 'none',
    run.check.ok ? `ok (${run.check.created} holds)` : `MISMATCH ${JSON.stringify(run.check)}`,
  ]);

function renderText(report: ClusterReport): string {
  const table = [HEAD, ...rows(report)];
  const widths = HEAD.map((_, c) => Math.max(...table.map((row) => row[c].length)));
  return [
    '',
    ...table.map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join('  ')),
    '',
    `Redis transport / embedded peak: ${report.redisShareOfEmbedded === null ? 'n/a' : `x${report.redisShareOfEmbedded.toFixed(2)}`} (target >= 0.5: ${report.targets.redisKeepsHalf ? 'met' : 'NOT met'})`,
    `mailbox p99 (send to reply, worst kind) under 20 ms at half of peak: ${Object.entries(report.targets.p99Under20msAtHalf).map(([k, v]) => `${k} ${v ? 'met' : 'NOT met'}`).join('; ')}`,
    ...report.runs.map((run) => `  ${run.system}: ${run.half.mailbox.map((m) => `${m.kind} ${m.count} asks (${Object.entries(m.routes).map(([r, n]) => `${r} ${n}`).join(', ')}), mean ${f1(m.mean)} ms`).join('; ')}`),
  ].join('\n');
}

function renderMarkdown(report: ClusterReport): string {
  const m = report.machine;
  return [
    `## cluster: ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC, commit ${report.commit}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, MariaDB ${m.mariadb}; Redis, every node and the load generator on the same machine.`,
    `Parameters: ${Object.entries(report.parameters).map(([k, v]) => `${k}=${v}`).join(', ')}. Peak: closed loop; half: open loop at half the peak, HTTP latency from each request's scheduled send; mailbox latency from the nodes' \`dealrush_actor_ask_seconds\` histograms over the same window (each ask from send to reply at the caller, commit included).`,
    '',
    `| ${HEAD.join(' | ')} |`,
    `| ${HEAD.map(() => '---').join(' | ')} |`,
    ...rows(report).map((row) => `| ${row.join(' | ')} |`),
    '',
    `Redis transport / embedded peak: **${report.redisShareOfEmbedded === null ? 'n/a' : `x${report.redisShareOfEmbedded.toFixed(2)}`}** (target >= 0.5: ${report.targets.redisKeepsHalf ? 'met' : '**not met**'}). mailbox p99 (worst kind) under 20 ms at half of peak: ${Object.entries(report.targets.p99Under20msAtHalf).map(([k, v]) => `${k} ${v ? 'met' : '**not met**'}`).join('; ')}.`,
    '',
  ].join('\n');
}

export const CLUSTER_USAGE = `  cluster            holds on one hot deal: embedded vs the Redis transport on one node (every
                     message via Redis) vs three nodes; peak (closed loop) and p50/p99 at half of
                     peak (open loop). options: --seconds S (default 10), --connections N
                     (default 256), --quick, --no-record`;

/** `npm run bench -- cluster [options]`. Exit codes: 0, 1 failed or a mismatch, 64 usage, 130 interrupted. */
export async function runClusterCommand(argv: string[]): Promise<number> {
  let options: ClusterOptions;
  try {
    const values = scenarioArgs(argv, { seconds: { type: 'string' }, connections: { type: 'string' } });
    if (values.help) {
      console.log(`usage: npm run bench -- cluster [options]\n\n${CLUSTER_USAGE}`);
      return 0;
    }
    const quick = values.quick === true;
    options = { quick, seconds: wholeNumber('seconds', values.seconds, quick ? 4 : 10, 1, 300), connections: wholeNumber('connections', values.connections, 256, 3, 2000), record: values['no-record'] !== true };
  } catch (error) {
    return usageFailure(error, CLUSTER_USAGE);
  }
  const teardown = new Teardown();
  const interrupted = (signal: string) => {
    console.error(`\nbench: ${signal}: stopping servers and dropping the bench database`);
    void teardown.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => interrupted('SIGINT'));
  process.once('SIGTERM', () => interrupted('SIGTERM'));
  try {
    const report = await runCluster(options, teardown);
    return report.runs.every((r) => r.check.ok) ? 0 : 1;
  } catch (error) {
    console.error(`bench: ${(error as Error).stack ?? error}`);
    return 1;
  } finally {
    await teardown.run();
  }
}
