import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Presets, SingleBar } from 'cli-progress';
import Redis from 'ioredis';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { request } from 'undici';
import { runLoad, summarize, type LatencySummary, type LoadResult } from './load';
import { scenarioArgs, usageFailure, UsageError, wholeNumber } from './cli';
import { appendMarkdown, gitRevision, machineInfo, writeJson, type MachineInfo } from './report';
import { benchDatabaseName, cpuSeconds, findDatabasePid, freePort, liveMemory, logSummary, mint, repoRoot, startNodeArgs, startServer, Teardown, type Account, type ServerProcess } from './servers';

/** Settings of one `queue` run (see `bench/run.ts` for the command line). */
export interface QueueOptions {
  /** Seconds of joins per system. */
  durationSeconds: number;
  /** Keep-alive HTTP connections of the closed-loop load generator (each one request at a time). */
  connections: number;
  /** Shoppers minted for Dealrush's joins (each joins once: a repeat join is a cheap 200). */
  shoppers: number;
  /** Sockets in the deal room for the fan-out measurement (0: skip it). */
  sockets: number;
  /** Seconds the fan-out is measured. */
  fanoutSeconds: number;
  /**
   * Nodes of the second fan-out measurement: the same room spread over this many cluster nodes
   * (REDIS_URL set, sockets dealt round-robin, the emit crossing the Redis adapter); 1 skips it.
   */
  fanoutNodes: number;
  record: boolean;
  quick: boolean;
  /** The load generator's HTTP client for both systems (`lean` by default; see `runLoad`). */
  client: 'undici' | 'lean';
}

const ADMIN_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const FANOUT_THREADS = 4;
export const QUEUE_DEALRUSH = 'Dealrush waiting room';
export const QUEUE_BASELINE = 'baseline Redis ZADD+ZRANK';

export interface QueueSystemRun {
  system: string;
  result: LoadResult;
  joinsPerSecond: number;
  /** Server CPU in cores during the load. */
  serverCpu: number | null;
  databaseCpu: number | null;
  /** Dealrush: ticket rows and distinct seqs in the database, against the 201s counted. */
  check: { created: number; rows: number; distinctSeqs: number; ok: boolean } | null;
  serverLog: { warn: number; error: number; fatal: number };
}

export interface FanoutResult {
  /** Server processes the sockets were spread over (1: the embedded single node). */
  nodes: number;
  sockets: number;
  failed: number;
  seconds: number;
  events: number;
  /** Events a socket should have got: one per tick. */
  expectedPerSocket: number;
  lag: LatencySummary;
  /** Every emit seen, in order: ms after the first, messages received, the slowest one's lag (ms). */
  ticks: Array<{ atMs: number; received: number; maxLagMs: number }>;
  /** Summed over the nodes. */
  rssBeforeMiB: number;
  rssAfterMiB: number;
  /** RSS growth of all nodes / sockets, KiB: noisy (V8 resizes its heap on its own schedule). */
  rssPerConnectionKiB: number;
  /** Heap used + external memory of all nodes after a full GC, before and after connecting, MiB. */
  liveBeforeMiB: number;
  liveAfterMiB: number;
  /** Server memory per connection: growth of live memory (after a full GC) / sockets, KiB. */
  perConnectionKiB: number;
}

export interface QueueReport {
  scenario: 'queue';
  startedAt: string;
  commit: string;
  machine: MachineInfo;
  parameters: Record<string, string | number | boolean>;
  runs: QueueSystemRun[];
  ratio: number | null;
  /** One node (the embedded server of the joins run). */
  fanout: FanoutResult | null;
  /** The same room over `fanoutNodes` cluster nodes (null when not measured). */
  fanoutCluster: FanoutResult | null;
  targets: { joinsPerSecond: boolean; p99: boolean; noErrors: boolean; fanoutP99: boolean | null; fanoutClusterP99: boolean | null };
}

const stampOf = (date: Date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/**
 * The `queue` scenario (issue 4's benchmark): HTTP queue joins for `durationSeconds` on one deal
 * with its waiting room on (`POST /api/deals/:id/queue`, every request a new shopper, so every
 * join makes a ticket), against the baseline of one Redis sorted-set ZADD+ZRANK per join behind
 * the same JWT check, in the same run; then the fan-out: `sockets` socket.io connections (four
 * client threads) in the deal's room, the delay from each `queue:progress` emit (`at`) to its
 * arrival, and the server's memory per connection; then the same fan-out over `fanoutNodes`
 * cluster nodes (REDIS_URL set), each broadcasting to its share of the room. Targets (issue 4):
 * at least 10,000 joins/s, p99 under 50 ms, no errors; fan-out p99 under 200 ms.
 */
export async function runQueue(options: QueueOptions, teardown: Teardown): Promise<QueueReport> {
  const started = new Date();
  const commit = gitRevision(repoRoot);
  const stamp = stampOf(started);
  const database = benchDatabaseName('dealrush_bench_q', stamp);
  const admin = await createConnection({ uri: ADMIN_URL });
  teardown.add('close admin connection', () => admin.end());
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  teardown.add(`drop database ${database}`, () => admin.query(`DROP DATABASE IF EXISTS \`${database}\``));
  const workDir = mkdtempSync(join(tmpdir(), 'dealrush-bench-'));
  teardown.add('remove temporary files', async () => rmSync(workDir, { recursive: true, force: true }));
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const keyPrefix = `bench:queue:${stamp}:`;
  teardown.add('remove baseline keys', async () => {
    const keys = await redis.keys(`${keyPrefix}*`);
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
    // One client address, thousands of joins a second: no abuse limit.
    RATE_LIMIT_QUEUE_JOIN_PER_USER: '0',
    RATE_LIMIT_QUEUE_JOIN_PER_ADDRESS: '0',
  };
  console.error(`bench database ${database}; minting ${options.shoppers} shoppers and a seller`);
  const shoppers = await mint('shopper', options.shoppers, join(workDir, 'shoppers.jsonl'), env);
  const [seller] = await mint('seller', 1, join(workDir, 'seller.jsonl'), env);
  const dbPid = findDatabasePid();
  const runs: QueueSystemRun[] = [];

  // The baseline: each request a shopper, on a deal key of its own per pass over the shoppers.
  {
    const port = await freePort();
    const server = await startServer({ name: 'queue-baseline', script: join(repoRoot, 'dist', 'bench', 'queue-baseline-server.js'), port, env: { ...env, REDIS_URL, KEY_PREFIX: keyPrefix }, logPath: join(workDir, 'queue-baseline.log'), readyPath: '/health/ready' });
    teardown.add('stop baseline', () => server.stop());
    const auth = shoppers.map((s) => `Bearer ${s.accessToken}`);
    const { result, serverCpu, databaseCpu } = await drive(QUEUE_BASELINE, server, dbPid, options, (i) => `/api/deals/baseline-${Math.floor(i / auth.length)}/queue`, auth, 2_000_000);
    await server.stop();
    runs.push({ system: QUEUE_BASELINE, result, joinsPerSecond: perSecond(result), serverCpu, databaseCpu, check: null, serverLog: logSummary(server.logPath) });
  }

  // Dealrush: one open deal with its waiting room on, admitting slowly (the queue only grows).
  let fanout: FanoutResult | null = null;
  {
    const port = await freePort();
    const server = await startServer({ name: 'dealrush', script: join(repoRoot, 'dist', 'src', 'main.js'), nodeArgs: startNodeArgs(repoRoot), port, env, logPath: join(workDir, 'dealrush.log'), readyPath: '/health/ready', memoryProbeFile: join(workDir, 'dealrush.memory.json') });
    teardown.add('stop dealrush', () => server.stop());
    const dealId = await createDeal(server.origin, seller);
    const auth = shoppers.map((s) => `Bearer ${s.accessToken}`);
    const { result, serverCpu, databaseCpu } = await drive(QUEUE_DEALRUSH, server, dbPid, options, () => `/api/deals/${dealId}/queue`, auth, auth.length);
    const [[rows]] = await admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS seqs FROM \`${database}\`.tickets WHERE deal_id = ?`, [dealId]);
    const check = { created: result.created, rows: Number(rows.n), distinctSeqs: Number(rows.seqs), ok: result.created === Number(rows.n) && Number(rows.n) === Number(rows.seqs) };
    if (options.sockets > 0) fanout = await measureFanout([server], dealId, options);
    await server.stop();
    runs.push({ system: QUEUE_DEALRUSH, result, joinsPerSecond: perSecond(result), serverCpu, databaseCpu, check, serverLog: logSummary(server.logPath) });
  }

  // The same fan-out over cluster nodes: each node broadcasts to its own share of the room.
  let fanoutCluster: FanoutResult | null = null;
  if (options.sockets > 0 && options.fanoutNodes > 1) {
    const clusterName = `benchq${stamp.replace(/\D/g, '')}`;
    teardown.add('remove cluster keys', async () => {
      const keys = await redis.keys(`${clusterName}*`);
      if (keys.length > 0) await redis.del(...keys);
    });
    const nodes: ServerProcess[] = [];
    for (let n = 0; n < options.fanoutNodes; n++) {
      const port = await freePort();
      const node = await startServer({ name: `node-${n}`, script: join(repoRoot, 'dist', 'src', 'main.js'), nodeArgs: startNodeArgs(repoRoot), port, env: { ...env, REDIS_URL, CLUSTER_NAME: clusterName, NODE_ID: `benchq-${n}` }, logPath: join(workDir, `node-${n}.log`), readyPath: '/health/ready', memoryProbeFile: join(workDir, `node-${n}.memory.json`) });
      teardown.add(`stop node-${n}`, () => node.stop());
      nodes.push(node);
    }
    await new Promise((r) => setTimeout(r, 3000)); // partitions settle over the nodes
    const dealId = await createDeal(nodes[0].origin, seller);
    // The room ticks while anyone waits: 300 joins (100 admitted at maxActive, 200 waiting).
    for (let i = 0; i < 300; i += 50) {
      await Promise.all(shoppers.slice(i, i + 50).map(async (shopper, j) => {
        const res = await request(`${nodes[(i + j) % nodes.length].origin}/api/deals/${dealId}/queue`, { method: 'POST', headers: { authorization: `Bearer ${shopper.accessToken}` } });
        await res.body.dump();
        if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`cluster fan-out: queue join answered ${res.statusCode}`);
      }));
    }
    fanoutCluster = await measureFanout(nodes, dealId, options);
    await Promise.all(nodes.map((node) => node.stop()));
  }

  const [base, ours] = [runs[0], runs[1]];
  const errors = Object.entries(ours.result.outcomes).filter(([k]) => k !== '201').reduce((n, [, v]) => n + v, 0);
  const report: QueueReport = {
    scenario: 'queue',
    startedAt: started.toISOString(),
    commit,
    machine: await machineInfo(admin),
    parameters: { quick: options.quick, durationSeconds: options.durationSeconds, connections: options.connections, shoppers: options.shoppers, sockets: options.sockets, fanoutSeconds: options.fanoutSeconds, fanoutNodes: options.fanoutNodes, client: options.client, tickMs: 1000, dealrushNodeArgs: startNodeArgs(repoRoot).join(' ') || 'none' },
    runs,
    ratio: base.joinsPerSecond > 0 ? ours.joinsPerSecond / base.joinsPerSecond : null,
    fanout,
    fanoutCluster,
    targets: { joinsPerSecond: ours.joinsPerSecond >= 10_000, p99: ours.result.latency.p99 < 50, noErrors: errors === 0 && ours.check?.ok === true, fanoutP99: fanout ? fanout.lag.p99 < 200 : null, fanoutClusterP99: fanoutCluster ? fanoutCluster.lag.p99 < 200 : null },
  };
  console.log(renderQueueText(report));
  if (options.record) appendMarkdown(join(repoRoot, 'docs', 'benchmarks.md'), renderQueueMarkdown(report));
  const jsonPath = join(repoRoot, 'bench', 'results', `queue-${stamp}.json`);
  writeJson(jsonPath, report);
  console.error(`\n${options.record ? 'appended to docs/benchmarks.md' : 'not recorded (--no-record)'}; raw result in ${jsonPath}`);
  return report;
}

const perSecond = (r: LoadResult) => (r.elapsedMs > 0 ? (r.created * 1000) / r.elapsedMs : 0);

async function createDeal(origin: string, seller: Account): Promise<string> {
  const now = Date.now();
  const res = await request(`${origin}/api/seller/deals`, {
    method: 'POST',
    headers: { authorization: `Bearer ${seller.accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      title: 'Bench queue deal', description: 'queue benchmark', category: 'bench', price: 9900, originalPrice: 19900, currency: 'KRW',
      totalStock: 1000, perUserLimit: 1, startsAt: new Date(now - 1000).toISOString(), endsAt: new Date(now + 3_600_000).toISOString(),
      waitingRoom: { enabled: true, admissionPerMinute: 60, maxActive: 100 },
    }),
  });
  const body = (await res.body.json()) as { id?: string };
  if (res.statusCode !== 201 || !body.id) throw new Error(`bench deal not created: ${res.statusCode} ${JSON.stringify(body)}`);
  return body.id;
}

/** One closed-loop load of joins; request `i` is sent by shopper `i % n`. */
async function drive(label: string, server: ServerProcess, dbPid: number | null, options: QueueOptions, pathOf: (i: number) => string, auth: string[], maxRequests: number) {
  const bar = new SingleBar({ format: `${label.padEnd(30)} {bar} {value}/{total} s | {requests} joins | {rate} joins/s`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  bar.start(options.durationSeconds, 0, { requests: 0, rate: 0 });
  const before = { server: cpuSeconds(server.pid), db: dbPid === null ? null : cpuSeconds(dbPid) };
  let last = { at: 0, created: 0 };
  try {
    const result = await runLoad({
      origin: server.origin,
      connections: options.connections,
      durationMs: options.durationSeconds * 1000,
      maxRequests,
      client: options.client,
      makeRequest: (i) => ({ method: 'POST', path: pathOf(i), headers: { authorization: auth[i % auth.length] } }),
      onTick: ({ elapsedMs, requests, created }) => {
        const rate = elapsedMs > last.at ? ((created - last.created) * 1000) / (elapsedMs - last.at) : 0;
        last = { at: elapsedMs, created };
        bar.update(Math.min(options.durationSeconds, Math.round(elapsedMs / 100) / 10), { requests, rate: rate.toFixed(0) });
      },
    });
    const wall = result.elapsedMs / 1000;
    const cores = (a: number | null, b: number | null) => (a === null || b === null || wall <= 0 ? null : (b - a) / wall);
    return { result, serverCpu: cores(before.server, cpuSeconds(server.pid)), databaseCpu: cores(before.db, dbPid === null ? null : cpuSeconds(dbPid)) };
  } finally {
    bar.stop();
  }
}

const rssMiB = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
};

/**
 * Opens `options.sockets` sockets over four client threads, dealt round-robin over `servers` (one
 * origin per thread, as a proxy with sticky sessions would spread them), waits for them to
 * settle, then records every `queue:progress` lag for `fanoutSeconds`. Memory per connection is
 * the growth of the servers' live memory (heap used + external, each read after a full GC by the
 * bench's memory probe) over the connections; the RSS growth is reported beside it.
 */
async function measureFanout(servers: ServerProcess[], dealId: string, options: QueueOptions): Promise<FanoutResult> {
  const rssOf = () => servers.reduce((sum, s) => sum + rssMiB(s.pid), 0);
  const liveOf = async () => (await Promise.all(servers.map((s) => liveMemory(s)))).reduce((sum, m) => sum + (m.heapUsed + m.external) / 2 ** 20, 0);
  const liveBeforeMiB = await liveOf();
  const rssBeforeMiB = rssOf();
  const where = servers.length === 1 ? 'one node' : `${servers.length} nodes`;
  const bar = new SingleBar({ format: `fan-out (${where}): connecting {bar} {value}/{total} sockets`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  bar.start(options.sockets, 0);
  const per = Math.ceil(options.sockets / FANOUT_THREADS);
  const connected = new Array<number>(FANOUT_THREADS).fill(0);
  const workers = Array.from(
    { length: FANOUT_THREADS },
    (_, i) => new Worker(join(__dirname, 'fanout-worker.js'), { workerData: { origin: servers[i % servers.length].origin, dealId, count: Math.max(0, Math.min(per, options.sockets - i * per)), seconds: options.fanoutSeconds } }),
  );
  const ready = workers.map((w, i) => new Promise<void>((resolve, reject) => {
    w.on('message', (m: { type: string; n?: number }) => {
      if (m.type === 'connected') {
        connected[i] = m.n!;
        bar.update(connected.reduce((a, b) => a + b, 0));
      }
      if (m.type === 'ready') resolve();
    });
    w.once('error', reject);
  }));
  await Promise.all(ready);
  bar.stop();
  await new Promise((r) => setTimeout(r, 3000)); // let the servers settle after the connection storm
  const rssAfterMiB = rssOf();
  const liveAfterMiB = await liveOf();
  // The probe's full GCs stop the servers' event loops for a few hundred ms: a tick caught behind
  // them arrived 206-228 ms late while every other tick took 109-149 ms. Measure after they are over.
  await new Promise((r) => setTimeout(r, 2000));
  console.error(`fan-out (${where}): ${options.sockets} sockets open; measuring ${options.fanoutSeconds} s of queue:progress`);
  const done = workers.map((w) => new Promise<{ lags: number[]; ticks: Array<{ at: number; n: number; max: number }>; sockets: number; failed: number }>((resolve) => w.on('message', (m: { type: string }) => m.type === 'done' && resolve(m as never))));
  for (const w of workers) w.postMessage('go');
  const results = await Promise.all(done);
  await Promise.all(workers.map((w) => w.terminate()));
  const lags = results.flatMap((r) => r.lags);
  const sockets = results.reduce((n, r) => n + r.sockets, 0);
  const perTick = new Map<number, { n: number; max: number }>();
  for (const { at, n, max } of results.flatMap((r) => r.ticks)) {
    const tick = perTick.get(at) ?? { n: 0, max: 0 };
    perTick.set(at, { n: tick.n + n, max: Math.max(tick.max, max) });
  }
  const t0 = Math.min(...perTick.keys());
  const ticks = [...perTick].sort(([a], [b]) => a - b).map(([at, t]) => ({ atMs: at - t0, received: t.n, maxLagMs: t.max }));
  return {
    nodes: servers.length,
    sockets,
    failed: results.reduce((n, r) => n + r.failed, 0),
    seconds: options.fanoutSeconds,
    events: lags.length,
    expectedPerSocket: options.fanoutSeconds,
    lag: summarize(Float64Array.from(lags).sort()),
    ticks,
    rssBeforeMiB,
    rssAfterMiB,
    rssPerConnectionKiB: sockets > 0 ? ((rssAfterMiB - rssBeforeMiB) * 1024) / sockets : NaN,
    liveBeforeMiB,
    liveAfterMiB,
    perConnectionKiB: sockets > 0 ? ((liveAfterMiB - liveBeforeMiB) * 1024) / sockets : NaN,
  };
}

/** One line on a fan-out measurement; `md` bolds the memory per connection. */
function fanoutLine(fan: FanoutResult, md: boolean): string {
  const where = fan.nodes === 1 ? 'one node' : `${fan.nodes} cluster nodes (REDIS_URL set, sockets split evenly, the emit crossing the Redis adapter)`;
  const perConnection = `${f1(fan.perConnectionKiB)} KiB per connection`;
  const live = `live memory after a full GC (heap used + external) ${f1(fan.liveBeforeMiB)} -> ${f1(fan.liveAfterMiB)} MiB`;
  return (
    `Fan-out, ${where}: ${fan.sockets} sockets in one deal room (${fan.failed} failed to connect), ${fan.events} ${md ? '`queue:progress`' : 'queue:progress'} received in ${fan.seconds} s ` +
    `(one per tick expected: ${fan.sockets * fan.expectedPerSocket}); emit-to-receipt p50 ${f1(fan.lag.p50)} ms, p99 ${md ? `**${f1(fan.lag.p99)} ms**` : `${f1(fan.lag.p99)} ms`}, max ${f1(fan.lag.max)} ms; ` +
    `server ${live}, ${md ? `**${perConnection}**` : perConnection} (RSS ${f0(fan.rssBeforeMiB)} -> ${f0(fan.rssAfterMiB)} MiB, ${f1(fan.rssPerConnectionKiB)} KiB per connection). ` +
    `Slowest emit per tick, ms: ${fan.ticks.map((t) => t.maxLagMs).join(', ')}.`
  );
}

/** The targets line (text or Markdown). */
function targetsLine(report: QueueReport, md: boolean): string {
  const word = (ok: boolean | null) => (ok === null ? 'n/a' : ok ? 'met' : md ? '**not met**' : 'NOT met');
  const t = report.targets;
  const cluster = report.fanoutCluster ? `; fan-out p99 < 200 ms on ${report.fanoutCluster.nodes} nodes ${word(t.fanoutClusterP99)}` : '';
  return `${md ? 'Targets' : 'targets'}: >= 10,000 joins/s ${word(t.joinsPerSecond)}; p99 < 50 ms ${word(t.p99)}; no errors ${word(t.noErrors)}; fan-out p99 < 200 ms on one node ${word(t.fanoutP99)}${cluster}${md ? '.' : ''}`;
}

const f0 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(0));
const f1 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(1));

function rows(report: QueueReport): string[][] {
  return report.runs.map((r) => [
    r.system, f0(r.joinsPerSecond), f1(r.result.latency.p50), f1(r.result.latency.p99), String(r.result.requests), f1(r.result.elapsedMs / 1000),
    Object.entries(r.result.outcomes).filter(([k]) => k !== '201' && k !== '200').map(([k, v]) => `${k} ${v}`).join(', ') || 'none',
    f1(r.serverCpu), r.check ? (r.check.ok ? `ok (${r.check.rows} tickets, ${r.check.distinctSeqs} seqs)` : `MISMATCH ${JSON.stringify(r.check)}`) : '-',
  ]);
}
const HEAD = ['system', 'joins/s', 'p50 ms', 'p99 ms', 'requests', 'seconds', 'errors', 'server cores', 'database check'];

export function renderQueueText(report: QueueReport): string {
  const table = [HEAD, ...rows(report)];
  const widths = HEAD.map((_, c) => Math.max(...table.map((r) => r[c].length)));
  const lines = table.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  '));
  const fan = report.fanout;
  return [
    '',
    ...lines,
    '',
    `Dealrush / baseline joins/s: x${report.ratio === null ? 'n/a' : report.ratio.toFixed(2)}`,
    fan ? fanoutLine(fan, false) : 'fan-out: not measured',
    ...(report.fanoutCluster ? [fanoutLine(report.fanoutCluster, false)] : []),
    targetsLine(report, false),
  ].join('\n');
}

export function renderQueueMarkdown(report: QueueReport): string {
  const m = report.machine;
  const fan = report.fanout;
  return [
    `## queue: ${report.startedAt.slice(0, 16).replace('T', ' ')} UTC, commit ${report.commit}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, MariaDB ${m.mariadb} (innodb_flush_log_at_trx_commit=${m.innodbFlushLogAtTrxCommit}); load generator on the same machine.`,
    `Parameters: ${Object.entries(report.parameters).map(([k, v]) => `${k}=${v}`).join(', ')}.`,
    '',
    `| ${HEAD.join(' | ')} |`,
    `| ${HEAD.map(() => '---').join(' | ')} |`,
    ...rows(report).map((r) => `| ${r.join(' | ')} |`),
    '',
    `Dealrush / baseline joins/s: **x${report.ratio === null ? 'n/a' : report.ratio.toFixed(2)}**.`,
    fan ? fanoutLine(fan, true) : '',
    ...(report.fanoutCluster ? ['', fanoutLine(report.fanoutCluster, true)] : []),
    targetsLine(report, true),
    '',
  ].join('\n');
}

export const QUEUE_USAGE = `  queue              queue joins over HTTP on one deal with its waiting room on (every request a
                     new shopper), against a Redis ZADD+ZRANK baseline; then the fan-out of
                     queue:progress to N sockets in the deal's room (lag p99, memory per socket)
                     options: --duration S (default 30), --connections N (default 128),
                     --shoppers N (default 16000 per second of --duration, so that every join
                     of the run is a new shopper), --sockets N (default 10000; 0 skips),
                     --fanout-seconds S (default 15), --fanout-nodes N (default 2: the
                     fan-out again over N cluster nodes; 1 skips it), --client lean|undici (the load
                     generator's HTTP client for both systems; default lean), --quick, --no-record`;

/** `npm run bench -- queue [options]`. Exit codes as `bench/run.ts`: 0, 1 failed, 64 usage, 130 interrupted. */
export async function runQueueCommand(argv: string[]): Promise<number> {
  let options: QueueOptions;
  try {
    const values = scenarioArgs(argv, {
      duration: { type: 'string' }, connections: { type: 'string' }, shoppers: { type: 'string' }, sockets: { type: 'string' },
      'fanout-seconds': { type: 'string' }, 'fanout-nodes': { type: 'string' }, client: { type: 'string' },
    });
    if (values.help) {
      console.log(`usage: npm run bench -- queue [options]\n\n${QUEUE_USAGE}`);
      return 0;
    }
    const quick = values.quick === true;
    options = {
      quick,
      durationSeconds: wholeNumber('duration', values.duration, quick ? 5 : 30, 1, 600),
      // 128 keep-alive connections already saturate the server on this 2-core machine: 256 gave
      // the same joins/s (11,585 vs 11,566 in session 5) with twice the latency, which was only
      // requests waiting in the load generator's own queue (Little's law), not the server's.
      connections: wholeNumber('connections', values.connections, 128, 1, 2000),
      // Every join a new shopper for the whole duration: the Dealrush run stops when they run out
      // (a second join by the same shopper only finds the ticket it has). 150,000 lasted only
      // about 11 s at 13,600 joins/s; 16,000 per second of the run covers the full duration.
      shoppers: wholeNumber('shoppers', values.shoppers, Math.min(1_000_000, 16_000 * wholeNumber('duration', values.duration, quick ? 5 : 30, 1, 600)), 100, 1_000_000),
      sockets: wholeNumber('sockets', values.sockets, quick ? 2000 : 10_000, 0, 15_000),
      fanoutSeconds: wholeNumber('fanout-seconds', values['fanout-seconds'], quick ? 5 : 15, 1, 300),
      fanoutNodes: wholeNumber('fanout-nodes', values['fanout-nodes'], 2, 1, 4),
      record: values['no-record'] !== true,
      client: values.client === undefined || values.client === 'lean' ? 'lean' : values.client === 'undici' ? 'undici' : (() => { throw new UsageError(`--client must be lean or undici (got ${JSON.stringify(values.client)})`); })(),
    };
  } catch (error) {
    return usageFailure(error, QUEUE_USAGE);
  }
  const teardown = new Teardown();
  const interrupted = (signal: string) => {
    console.error(`\nbench: ${signal}: stopping servers and dropping the bench database`);
    void teardown.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => interrupted('SIGINT'));
  process.once('SIGTERM', () => interrupted('SIGTERM'));
  try {
    const report = await runQueue(options, teardown);
    return report.runs.every((r) => r.check === null || r.check.ok) ? 0 : 1;
  } catch (error) {
    console.error(`bench: ${(error as Error).stack ?? error}`);
    return 1;
  } finally {
    await teardown.run();
  }
}
