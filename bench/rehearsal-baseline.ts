import { fork } from 'node:child_process';
import { join } from 'node:path';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { v7 as uuidv7 } from 'uuid';
import { createBaselineTables } from './holds';
import { summarize, type LatencySummary } from './load';
import { runBaselineAudit, type BaselineAuditResult } from './rehearsal-audit';
import type { ShopperJob, ShopperPlan, ShopperProgress, ShopperResult } from './rehearsal-shopper';
import { boundedResults, cpuSeconds, findDatabasePid, freePort, repoRoot, startServer, type Teardown } from './servers';

/**
 * The rehearsal's baseline row (issue 8): the same shoppers (same plans: count, seeded arrival
 * curve, quantities) against bench/baseline-server.ts, the one-transaction-per-purchase baseline
 * of the holds benchmark (`SELECT ... FOR UPDATE`, `UPDATE`, `INSERT` per purchase, same JWT
 * check). Each shopper sends one `POST /api/cart/items` at its arrival (an early bird at the
 * opening) from the same load-generator processes as the Dealrush shoppers
 * (bench/rehearsal-shopper.ts in `baseline` mode). There is no waiting room, socket, checkout or
 * payment in the baseline: its row measures the hold transaction only.
 */

/** What the baseline row includes, said wherever its numbers are shown. */
export const BASELINE_INCLUDES = 'the hold transaction only (one POST /api/cart/items per shopper: SELECT ... FOR UPDATE, UPDATE, INSERT); no waiting room, socket, checkout or payment (the baseline has none)';
/** What the Dealrush row includes. */
export const DEALRUSH_INCLUDES = 'the whole sale: waiting room (join, admission), hold with the admission token, checkout and payment at the gateway; stock returns from walked-away holds and orders';

/** The baseline server's database pool (the holds benchmark's default). */
const BASELINE_POOL_SIZE = 20;
/** From the shoppers' processes being started to the baseline's opening (ms). */
const BASELINE_LEAD_MS = 3000;

export interface BaselineReport {
  scenario: 'rehearsal-baseline';
  includes: string;
  parameters: { shoppers: number; units: number; seed: number; loadThreads: number; dbPoolSize: number; saleSeconds: number };
  dealId: string;
  /** Seconds from the baseline's opening: the last unit's 201 (null when not sold out), the shoppers done. */
  timeline: { soldOutSeconds: number | null; shoppersDoneSeconds: number };
  /** 201s per whole second since the opening (index 0 = the first second). */
  perSecond: { holds: number[] };
  peaks: { holdsPerSecond: number };
  /** From the shopper's arrival (an early bird: the opening) to its 201, retries included. */
  latency: { arrivalToHold: LatencySummary };
  steps: Record<string, LatencySummary>;
  outcomes: Record<string, number>;
  /** Each failed or retried attempt by step and code (a shopper's final SOLD_OUT included). */
  errors: Record<string, number>;
  /** Cores used from the opening to the end of the shoppers. */
  cpuCores: Record<string, number | null>;
  audit: BaselineAuditResult;
}

const perSecond = (times: number[], opensAt: number): number[] => {
  const out: number[] = [];
  for (const t of times) {
    const s = Math.floor((t - opensAt) / 1000);
    if (s < 0) continue;
    while (out.length <= s) out.push(0);
    out[s] += 1;
  }
  return out;
};

/**
 * Runs the baseline scenario in the database `databaseUrl` (which must exist; the tables
 * `bench_deals` and `bench_holds` are created in it): starts bench/baseline-server.js with
 * `jwtSecret`, inserts a deal of `units`, and drives `plans` (made by planShoppers for an opening
 * at `plansOpenAt`, epoch ms; they are moved to the baseline's own opening, a few seconds from
 * now) over `threads` shopper processes. Stops the shoppers once the deal is sold out, or at the
 * opening + `saleSeconds` (+ 40 s grace, then they are asked for what they have). The baseline
 * server is stopped before this returns (and by `teardown` on failure).
 * @throws Error when the server does not start or a shopper process fails.
 */
export async function runBaselineScenario(input: {
  databaseUrl: string;
  jwtSecret: string;
  plans: ShopperPlan[];
  plansOpenAt: number;
  units: number;
  threads: number;
  saleSeconds: number;
  seed: number;
  workDir: string;
  teardown: Teardown;
  /** The MariaDB server's pid for its CPU (a private one); null: the local mariadbd. */
  mariadbPid?: number | null;
}): Promise<BaselineReport> {
  const admin = await createConnection({ uri: input.databaseUrl });
  let dealId: string;
  try {
    await createBaselineTables(admin, null);
    dealId = uuidv7();
    await admin.query('INSERT INTO bench_deals (id, remaining, price, currency) VALUES (?, ?, ?, ?)', [dealId, input.units, 49_000, 'KRW']);
  } finally {
    await admin.end();
  }
  const server = await startServer({
    name: 'baseline',
    script: join(repoRoot, 'dist', 'bench', 'baseline-server.js'),
    port: await freePort(),
    env: { DATABASE_URL: input.databaseUrl, JWT_SECRET: input.jwtSecret, DB_POOL_SIZE: String(BASELINE_POOL_SIZE), LOG_LEVEL: 'warn' },
    logPath: join(input.workDir, 'baseline.log'),
    readyPath: '/health/ready',
  });
  input.teardown.add('stop baseline server', () => server.stop(5000));
  const opensAt = Date.now() + BASELINE_LEAD_MS;
  const deadline = opensAt + input.saleSeconds * 1000;
  const shift = opensAt - input.plansOpenAt;
  const plans = input.plans.map((p) => ({ ...p, arriveAt: p.arriveAt + shift, node: 0 }));
  console.error(`rehearsal baseline: ${plans.length} shoppers, ${input.units} units, bench/baseline-server.js (pool ${BASELINE_POOL_SIZE}); opens at ${new Date(opensAt).toISOString()}`);

  const slices: ShopperPlan[][] = Array.from({ length: input.threads }, () => []);
  plans.forEach((p, i) => slices[i % input.threads].push(p));
  const progress: ShopperProgress[] = slices.map(() => ({ arrived: 0, waiting: 0, admitted: 0, held: 0, paid: 0, finished: 0, errors: 0, sockets: 0 }));
  const workers = slices.map((shoppers) => {
    const child = fork(join(__dirname, 'rehearsal-shopper.js'), [], { serialization: 'advanced', env: { ...process.env, REHEARSAL_SHOPPERS: '1' }, execArgv: ['--max-old-space-size=4096'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const job: ShopperJob = { origins: [server.origin], dealId, opensAt, deadline, pollMs: 30_000, shoppers, mode: 'baseline' };
    child.send({ type: 'job', job } as never);
    return child;
  });
  input.teardown.add('stop baseline shopper processes', async () => {
    for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  });
  const post = (m: object) => {
    for (const w of workers) if (w.connected) w.send(m as never);
  };
  const results = workers.map(
    (w, i) =>
      new Promise<ShopperResult>((resolve, reject) => {
        w.on('message', (message) => {
          const m = message as unknown as { type: string; progress?: ShopperProgress; result?: ShopperResult; error?: string };
          if (m.type === 'progress') progress[i] = m.progress!;
          else if (m.type === 'done') resolve(m.result!);
          else if (m.type === 'failed') reject(new Error(`baseline shopper process ${i}: ${m.error}`));
        });
        w.once('error', reject);
        w.once('exit', (code, signal) => reject(new Error(`baseline shopper process ${i} exited (${code ?? signal}) before it was done`)));
      }),
  );

  // CPU from the opening to the end of the shoppers.
  const mariadbPid = input.mariadbPid ?? findDatabasePid();
  const shopperCpu = () => workers.reduce((n, w) => n + (cpuSeconds(w.pid!) ?? 0), 0);
  let atOpen: { at: number; server: number | null; mariadb: number | null; self: NodeJS.CpuUsage; shoppers: number } | null = null;
  const openTimer = setTimeout(() => {
    atOpen = { at: Date.now(), server: cpuSeconds(server.pid), mariadb: mariadbPid === null ? null : cpuSeconds(mariadbPid), self: process.cpuUsage(), shoppers: shopperCpu() };
  }, BASELINE_LEAD_MS);

  // The deal's remaining stock, a few times a second: once it is 0 the shoppers still to come are
  // not started (every one of them would get SOLD_OUT).
  const db = await createConnection({ uri: input.databaseUrl });
  let soldOutSeen = false;
  let lastPrint = 0;
  let polling = false;
  const poller = setInterval(() => {
    if (polling) return;
    polling = true;
    void (async () => {
      try {
        const [rows] = await db.query<RowDataPacket[]>('SELECT remaining FROM bench_deals WHERE id = ?', [dealId]);
        const remaining = Number(rows[0]?.remaining);
        if (remaining === 0 && !soldOutSeen) {
          soldOutSeen = true;
          post({ type: 'stop' });
        }
        const now = Date.now();
        if (now - lastPrint >= 2000) {
          lastPrint = now;
          const p = progress.reduce((a, x) => ({ arrived: a.arrived + x.arrived, held: a.held + x.held, finished: a.finished + x.finished, errors: a.errors + x.errors }), { arrived: 0, held: 0, finished: 0, errors: 0 });
          const clock = now < opensAt ? `opens in ${((opensAt - now) / 1000).toFixed(0)} s` : `+${((now - opensAt) / 1000).toFixed(0)} s`;
          console.error(`[baseline ${clock}] arrived ${p.arrived}/${plans.length}, held ${p.held}, done ${p.finished}, errors ${p.errors} | stock ${remaining} left`);
        }
      } catch {
        // the next poll
      } finally {
        polling = false;
      }
    })();
  }, 250);
  let shopperResults: ShopperResult[];
  try {
    shopperResults = await boundedResults({ workers, results, post, deadline, graceMs: 40_000, lateMessage: 'rehearsal baseline: shopper processes past their time; asking them for what they have' });
  } finally {
    clearTimeout(openTimer);
    clearInterval(poller);
    await db.end().catch(() => undefined);
  }
  const endedAt = Date.now();
  const cpu: Record<string, number | null> = {};
  const opened = atOpen as { at: number; server: number | null; mariadb: number | null; self: NodeJS.CpuUsage; shoppers: number } | null;
  if (opened) {
    const wall = (endedAt - opened.at) / 1000;
    const serverAfter = cpuSeconds(server.pid);
    const dbAfter = mariadbPid === null ? null : cpuSeconds(mariadbPid);
    cpu['baseline server'] = opened.server === null || serverAfter === null ? null : (serverAfter - opened.server) / wall;
    cpu.mariadb = opened.mariadb === null || dbAfter === null ? null : (dbAfter - opened.mariadb) / wall;
    const self = process.cpuUsage(opened.self);
    cpu['load generator'] = ((self.user + self.system) / 1e6 + (shopperCpu() - opened.shoppers)) / wall;
  }
  await server.stop(5000);

  const audit = await runBaselineAudit({ databaseUrl: input.databaseUrl, dealId, totalUnits: input.units, results: shopperResults });
  const records = shopperResults.flatMap((r) => r.records);
  const holds = shopperResults.flatMap((r) => r.seen.holds);
  const errors: Record<string, number> = {};
  for (const r of shopperResults) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const outcomes: Record<string, number> = {};
  for (const r of records) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  const stepValues: Record<string, number[]> = {};
  for (const r of shopperResults) for (const [k, v] of Object.entries(r.steps)) (stepValues[k] ??= []).push(...v);
  const perSec = perSecond(holds.map((h) => h.at), opensAt);
  const lastHold = holds.reduce((m, h) => Math.max(m, h.at), -Infinity);
  return {
    scenario: 'rehearsal-baseline',
    includes: BASELINE_INCLUDES,
    parameters: { shoppers: plans.length, units: input.units, seed: input.seed, loadThreads: input.threads, dbPoolSize: BASELINE_POOL_SIZE, saleSeconds: input.saleSeconds },
    dealId,
    timeline: { soldOutSeconds: audit.counts.remaining === 0 && holds.length > 0 ? (lastHold - opensAt) / 1000 : null, shoppersDoneSeconds: (endedAt - opensAt) / 1000 },
    perSecond: { holds: perSec },
    peaks: { holdsPerSecond: Math.max(0, ...perSec) },
    latency: { arrivalToHold: summarize(records.filter((r) => r.heldAt !== null && r.arrivedAt !== null).map((r) => r.heldAt! - r.arrivedAt!)) },
    steps: Object.fromEntries(Object.entries(stepValues).map(([k, v]) => [k, summarize(v)])),
    outcomes,
    errors,
    cpuCores: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v === null ? null : Math.round(v * 100) / 100])),
    audit,
  };
}

/** One row of the Dealrush / baseline comparison table. */
export interface ComparisonRow {
  system: 'Dealrush' | 'baseline';
  includes: string;
  /** Seconds from the opening to the stock at 0; null: never. */
  soldOutSeconds: number | null;
  peakHoldsPerSecond: number;
  /** Dealrush: admission to hold; baseline: arrival (an early bird: the opening) to hold. */
  holdLatency: { from: string; p50: number; p99: number; count: number };
  /** Failed or retried attempts, SOLD_OUT answers left out (the normal end of a sold-out sale). */
  errors: number;
  auditOk: boolean;
}

const errorsWithoutSoldOut = (errors: Record<string, number>) => Object.entries(errors).reduce((n, [k, v]) => (k.endsWith(' SOLD_OUT') ? n : n + v), 0);

/**
 * The comparison table's two rows: `dealrush` is the rehearsal's report (its timeline, peaks,
 * admission-to-hold latency, errors and audit), `baseline` the baseline row's report.
 */
export function comparisonRows(
  dealrush: { timeline: { soldOutSeconds: number | null }; peaks: { holdsPerSecond: number }; latency: { admissionToHold: LatencySummary }; errors: Record<string, number>; audit: { ok: boolean } },
  baseline: BaselineReport,
): ComparisonRow[] {
  return [
    { system: 'Dealrush', includes: DEALRUSH_INCLUDES, soldOutSeconds: dealrush.timeline.soldOutSeconds, peakHoldsPerSecond: dealrush.peaks.holdsPerSecond, holdLatency: { from: 'admission', p50: dealrush.latency.admissionToHold.p50, p99: dealrush.latency.admissionToHold.p99, count: dealrush.latency.admissionToHold.count }, errors: errorsWithoutSoldOut(dealrush.errors), auditOk: dealrush.audit.ok },
    { system: 'baseline', includes: BASELINE_INCLUDES, soldOutSeconds: baseline.timeline.soldOutSeconds, peakHoldsPerSecond: baseline.peaks.holdsPerSecond, holdLatency: { from: 'arrival', p50: baseline.latency.arrivalToHold.p50, p99: baseline.latency.arrivalToHold.p99, count: baseline.latency.arrivalToHold.count }, errors: errorsWithoutSoldOut(baseline.errors), auditOk: baseline.audit.ok },
  ];
}

const f0 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(0));
const f1 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(1));

/** The comparison as Markdown: the table, then what each row includes. */
export function renderComparisonMarkdown(rows: ComparisonRow[]): string[] {
  return [
    '| system | time to sell out | peak holds/s | hold p50 ms | hold p99 ms | hold latency from | errors (SOLD_OUT left out) | audit |',
    '| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |',
    ...rows.map((r) => `| ${r.system} | ${r.soldOutSeconds === null ? 'never' : `${f1(r.soldOutSeconds)} s`} | ${r.peakHoldsPerSecond} | ${f0(r.holdLatency.p50)} | ${f0(r.holdLatency.p99)} | ${r.holdLatency.from} (n=${r.holdLatency.count}) | ${r.errors} | ${r.auditOk ? 'passed' : '**FAILED**'} |`),
    '',
    ...rows.map((r) => `- ${r.system} row: ${r.includes}.`),
  ];
}

/** The comparison as text lines. */
export function renderComparisonText(rows: ComparisonRow[]): string[] {
  return [
    'comparison (same shoppers, same seed):',
    ...rows.map((r) => `  ${r.system.padEnd(8)} sold out ${r.soldOutSeconds === null ? 'never' : `${f1(r.soldOutSeconds)} s`}, peak ${r.peakHoldsPerSecond} holds/s, hold from ${r.holdLatency.from} p50 ${f0(r.holdLatency.p50)} ms p99 ${f0(r.holdLatency.p99)} ms (n=${r.holdLatency.count}), errors ${r.errors} (SOLD_OUT left out), audit ${r.auditOk ? 'passed' : 'FAILED'}`),
    ...rows.map((r) => `  ${r.system} includes ${r.includes}`),
  ];
}

const NOT_ARRIVED_NOTE = (b: BaselineReport) => (b.outcomes.not_arrived ? ' (not_arrived: due after the stock reached 0, not started)' : '');

/** The baseline row's own summary (text, also for `--baseline` alone). */
export function renderBaselineText(b: BaselineReport): string {
  const l = b.latency.arrivalToHold;
  return [
    `baseline (bench/baseline-server.js, ${b.parameters.shoppers} shoppers, ${b.parameters.units} units, seed ${b.parameters.seed}): ${b.includes}`,
    `  time to sell out (last unit's 201): ${b.timeline.soldOutSeconds === null ? 'never' : `${f1(b.timeline.soldOutSeconds)} s`} after the opening; shoppers done ${f1(b.timeline.shoppersDoneSeconds)} s`,
    `  holds per second (peak ${b.peaks.holdsPerSecond}): ${b.perSecond.holds.join(' ') || 'none'}`,
    `  arrival to hold: p50 ${f0(l.p50)} ms, p99 ${f0(l.p99)} ms, max ${f0(l.max)} ms (n=${l.count})`,
    `  CPU during the sale (cores): ${Object.entries(b.cpuCores).map(([k, v]) => `${k} ${v ?? 'n/a'}`).join(', ')}`,
    `  shoppers by outcome: ${Object.entries(b.outcomes).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v}`).join(', ')}${NOT_ARRIVED_NOTE(b)}`,
    `  errors by code: ${Object.entries(b.errors).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `  baseline audit: ${b.audit.ok ? 'PASSED' : 'FAILED'}`,
    ...b.audit.checks.map((c) => `    ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
  ].join('\n');
}

/** The baseline row's section of the Markdown report. */
export function renderBaselineMarkdown(b: BaselineReport): string[] {
  const l = b.latency.arrivalToHold;
  return [
    `Baseline (bench/baseline-server.js, database pool ${b.parameters.dbPoolSize}, same shoppers and seed, ${b.parameters.loadThreads} load processes): ${b.includes}. **Audit: ${b.audit.ok ? 'passed' : 'FAILED'}.**`,
    '',
    `- time to sell out (the last unit's 201): ${b.timeline.soldOutSeconds === null ? 'never' : `${f1(b.timeline.soldOutSeconds)} s`}; shoppers done ${f1(b.timeline.shoppersDoneSeconds)} s after the opening`,
    `- holds per second since the opening (peak ${b.peaks.holdsPerSecond}): ${b.perSecond.holds.join(' ') || 'none'}`,
    `- arrival (an early bird: the opening) to hold: p50 ${f0(l.p50)} ms, p99 ${f0(l.p99)} ms, max ${f0(l.max)} ms (n=${l.count})`,
    `- CPU from the opening to the end, in cores: ${Object.entries(b.cpuCores).map(([k, v]) => `${k} ${v ?? 'n/a'}`).join(', ')}`,
    `- shoppers by outcome: ${Object.entries(b.outcomes).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v}`).join(', ')}${NOT_ARRIVED_NOTE(b)}`,
    `- errors by step and code: ${Object.entries(b.errors).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    ...b.audit.checks.map((c) => `- baseline audit, ${c.name}: ${c.ok ? 'ok' : '**FAILED**'} (${c.detail.replace(/\|/g, '/')})`),
  ];
}
