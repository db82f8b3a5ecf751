import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { summarize, type LatencySummary } from './load';
import { appendMarkdown, type MachineInfo } from './report';
import type { AuditResult } from './rehearsal-audit';
import { comparisonRows, renderBaselineMarkdown, renderBaselineText, renderComparisonMarkdown, renderComparisonText, type BaselineReport, type ComparisonRow } from './rehearsal-baseline';
import type { RehearsalOptions } from './rehearsal';
import type { ShopperResult } from './rehearsal-shopper';
import type { ServerLatency } from './server-latency';
import { repoRoot } from './servers';

/** One sample a second: the deal's sales view (null while no node answered) and the shoppers. */
export interface Sample {
  /** ms since the opening (negative before). */
  t: number;
  remaining: number | null;
  held: number | null;
  sold: number | null;
  waiting: number | null;
  admitted: number | null;
  sockets: number;
  arrived: number;
}

export interface FaultEvent {
  /** ms since the opening. */
  t: number;
  what: string;
}

export interface RehearsalReport {
  scenario: 'rehearsal';
  startedAt: string;
  commit: string;
  machine: MachineInfo;
  topology: string;
  parameters: Record<string, string | number | boolean | null>;
  dealId: string;
  /** Seconds from the opening: the stock first at 0 (everything held or sold), every unit paid, the shoppers done. */
  timeline: { soldOutSeconds: number | null; allPaidSeconds: number | null; shoppersDoneSeconds: number };
  /** Per whole second since the opening (index 0 = the first second). */
  perSecond: { holds: number[]; paidOrders: number[]; paidUnits: number[] };
  peaks: { holdsPerSecond: number; paymentsPerSecond: number };
  latency: { queueJoin: LatencySummary; admissionToHold: LatencySummary; holdToPaid: LatencySummary; queueProgressLag: LatencySummary };
  /** Each HTTP step as the shoppers saw it (retries included), and approve-to-paid as seen. */
  steps: Record<string, LatencySummary>;
  /**
   * The same steps as the nodes' handlers timed them (their `/metrics` histograms, summed over the
   * nodes alive at the end): the gap to `steps` is time in the load generator's pools and the
   * kernel's queues. Null in reports from before it existed.
   */
  serverSide?: { routes: Record<string, ServerLatency>; missing: string[] } | null;
  /** Each load-generator process's own queueing (ShopperResult.loadGenerator); absent in older reports. */
  loadGenerators?: Array<NonNullable<ShopperResult['loadGenerator']>>;
  outcomes: Record<string, number>;
  errors: Record<string, number>;
  peakMemoryMiB: Record<string, number>;
  /** Cores used from the opening to the end of the shoppers (a killed node: up to now, so null). */
  cpuCores: Record<string, number | null>;
  faults: FaultEvent[];
  audit: AuditResult;
  targets: { allSoldAndPaid: boolean; soldOutUnder10s: boolean | null; progressLagP99Under500ms: boolean };
  samples: Sample[];
  chart: string | null;
  /** The baseline row (same shoppers against bench/baseline-server.ts); null with --no-baseline. */
  baseline: BaselineReport | null;
  /** Dealrush's row and the baseline's, side by side; null without the baseline. */
  comparison: ComparisonRow[] | null;
}

const perSecond = (times: number[], opensAt: number, weights?: number[]): number[] => {
  const out: number[] = [];
  times.forEach((t, i) => {
    const s = Math.floor((t - opensAt) / 1000);
    if (s < 0) return;
    while (out.length <= s) out.push(0);
    out[s] += weights ? weights[i] : 1;
  });
  return out;
};

export function buildReport(input: {
  options: RehearsalOptions;
  startedAt: string;
  commit: string;
  machine: MachineInfo;
  topology: string;
  dealId: string;
  opensAt: number;
  endedAt: number;
  samples: Sample[];
  stockEvents: Array<{ t: number; remaining: number }>;
  faults: FaultEvent[];
  peakMemory: Record<string, number>;
  results: ShopperResult[];
  audit: AuditResult;
  soldOutAllPaidAt: number | null;
  cpu: Record<string, number | null>;
  serverSide?: { routes: Record<string, ServerLatency>; missing: string[] } | null;
  baseline?: BaselineReport | null;
}): RehearsalReport {
  const { options, opensAt } = input;
  // Samples are pushed when their slowest request answers: put them back in time order.
  input.samples.sort((a, b) => a.t - b.t);
  const records = input.results.flatMap((r) => r.records);
  const holds = input.results.flatMap((r) => r.seen.holds);
  const paid = records.filter((r) => r.paidAt !== null);
  const errors: Record<string, number> = {};
  for (const r of input.results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  const outcomes: Record<string, number> = {};
  for (const r of records) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  const soldOut = [...input.stockEvents].sort((a, b) => a.t - b.t).find((e) => e.t >= opensAt && e.remaining === 0)?.t ?? input.samples.find((s) => s.t >= 0 && s.remaining === 0)?.t ?? null;
  const soldOutSeconds = soldOut === null ? null : (soldOut > 1e12 ? soldOut - opensAt : soldOut) / 1000;
  const allPaidSeconds = input.soldOutAllPaidAt === null ? (input.audit.counts.paidUnits === options.units ? (input.endedAt - opensAt) / 1000 : null) : (input.soldOutAllPaidAt - opensAt) / 1000;
  const perSec = {
    holds: perSecond(holds.map((h) => h.at), opensAt),
    paidOrders: perSecond(paid.map((r) => r.paidAt!), opensAt),
    paidUnits: perSecond(paid.map((r) => r.paidAt!), opensAt, paid.map((r) => r.quantity)),
  };
  const lags = input.results.flatMap((r) => r.lags);
  const latency = {
    queueJoin: summarize(records.filter((r) => r.joinMs !== null).map((r) => r.joinMs!)),
    admissionToHold: summarize(records.filter((r) => r.heldAt !== null && r.admittedAt !== null).map((r) => r.heldAt! - r.admittedAt!)),
    holdToPaid: summarize(paid.filter((r) => r.heldAt !== null).map((r) => r.paidAt! - r.heldAt!)),
    queueProgressLag: summarize(lags),
  };
  const stepValues: Record<string, number[]> = {};
  for (const r of input.results) for (const [k, v] of Object.entries(r.steps)) (stepValues[k] ??= []).push(...v);
  const steps = Object.fromEntries(Object.entries(stepValues).map(([k, v]) => [k, summarize(v)]));
  const noFault = options.killNodeAt === null && options.restartRedisAt === null && options.restartMariadbAt === null;
  return {
    scenario: 'rehearsal',
    startedAt: input.startedAt,
    commit: input.commit,
    machine: input.machine,
    topology: input.topology,
    parameters: {
      shoppers: options.shoppers, units: options.units, opensInSeconds: options.opensInSeconds, saleSeconds: options.saleSeconds, nodes: options.nodes, embedded: options.embedded,
      loadThreads: options.threads, perUserLimit: options.perUserLimit, admissionPerMinute: options.admissionPerMinute, maxActive: options.maxActive,
      killNodeAt: options.killNodeAt, restartRedisAt: options.restartRedisAt, restartMariadbAt: options.restartMariadbAt, outageSeconds: options.outageSeconds, seed: options.seed, quick: options.quick,
      holdTtlSeconds: options.holdTtlSeconds, orderPaymentTimeoutSeconds: options.orderTimeoutSeconds, admissionTtlSeconds: options.admissionTtlSeconds, stockPublishIntervalMs: 1000, httpConnectionsPerNodeAndProcess: 256,
    },
    dealId: input.dealId,
    timeline: { soldOutSeconds, allPaidSeconds, shoppersDoneSeconds: (input.endedAt - opensAt) / 1000 },
    perSecond: perSec,
    peaks: { holdsPerSecond: Math.max(0, ...perSec.holds), paymentsPerSecond: Math.max(0, ...perSec.paidOrders) },
    latency,
    steps,
    serverSide: input.serverSide ?? null,
    loadGenerators: input.results.flatMap((r) => (r.loadGenerator ? [r.loadGenerator] : [])),
    outcomes,
    errors,
    peakMemoryMiB: Object.fromEntries(Object.entries(input.peakMemory).map(([k, v]) => [k, Math.round(v)])),
    cpuCores: Object.fromEntries(Object.entries(input.cpu).map(([k, v]) => [k, v === null ? null : Math.round(v * 100) / 100])),
    faults: input.faults,
    audit: input.audit,
    targets: {
      allSoldAndPaid: input.audit.counts.paidUnits === options.units && input.audit.ok,
      soldOutUnder10s: noFault ? soldOutSeconds !== null && soldOutSeconds < 10 : null,
      progressLagP99Under500ms: latency.queueProgressLag.count > 0 && latency.queueProgressLag.p99 < 500,
    },
    samples: input.samples,
    chart: null,
    baseline: input.baseline ?? null,
    comparison: input.baseline ? comparisonRows({ timeline: { soldOutSeconds }, peaks: { holdsPerSecond: Math.max(0, ...perSec.holds) }, latency, errors, audit: input.audit }, input.baseline) : null,
  };
}

const f0 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(0));
const f1 = (n: number | null | undefined) => (n === null || n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(1));
const yes = (b: boolean | null) => (b === null ? 'n/a' : b ? 'met' : 'NOT met');

/** The handlers' own p50/p99 per route (bucket-interpolated), to set beside the shoppers' steps. */
function serverSideLine(s: NonNullable<RehearsalReport['serverSide']>): string {
  const routes = Object.entries(s.routes).map(([route, l]) => `${route} ${l.p50}/${l.p99} (n=${l.count})`);
  const missing = s.missing.length > 0 ? `; no /metrics from ${s.missing.join(', ')}` : '';
  return `server side, the nodes' handlers (p50/p99 ms from their histograms, which stop at 5 s): ${routes.join(', ') || 'none'}${missing}`;
}

/** The load generators' own queueing: the part of the shoppers' steps that is not the nodes'. */
function loadGeneratorLine(gens: NonNullable<RehearsalReport['loadGenerators']>): string {
  const each = gens.map((g, i) => `#${i + 1} requests waiting for a connection peak ${g.queuedPeak}, mean ${g.queuedMean}; event-loop delay p50/p99/max ${f0(g.loopDelayMs.p50)}/${f0(g.loopDelayMs.p99)}/${f0(g.loopDelayMs.max)} ms`);
  return `load generator processes (their own queueing, counted in the steps and not by the nodes): ${each.join('; ')}`;
}

function summaryLines(r: RehearsalReport): string[] {
  const lat = (name: string, l: LatencySummary) => `${name}: p50 ${f0(l.p50)} ms, p99 ${f0(l.p99)} ms, max ${f0(l.max)} ms (n=${l.count})`;
  return [
    `time to sell out (stock at 0): ${r.timeline.soldOutSeconds === null ? 'never' : `${f1(r.timeline.soldOutSeconds)} s`} after the opening; every unit paid: ${r.timeline.allPaidSeconds === null ? 'no' : `${f1(r.timeline.allPaidSeconds)} s`}; shoppers done ${f1(r.timeline.shoppersDoneSeconds)} s`,
    `holds per second (peak ${r.peaks.holdsPerSecond}): ${r.perSecond.holds.join(' ') || 'none'}`,
    `paid orders per second (peak ${r.peaks.paymentsPerSecond}): ${r.perSecond.paidOrders.join(' ') || 'none'}`,
    lat('queue join', r.latency.queueJoin),
    lat('admission to hold', r.latency.admissionToHold),
    lat('hold to paid', r.latency.holdToPaid),
    lat('queue:progress delivery lag', r.latency.queueProgressLag),
    `steps (p50/p99 ms): ${Object.entries(r.steps).map(([k, l]) => `${k} ${f0(l.p50)}/${f0(l.p99)} (n=${l.count})`).join(', ')}`,
    ...(r.serverSide ? [serverSideLine(r.serverSide)] : []),
    ...(r.loadGenerators?.length ? [loadGeneratorLine(r.loadGenerators)] : []),
    `peak memory per node: ${Object.entries(r.peakMemoryMiB).map(([k, v]) => `${k} ${v} MiB`).join(', ')}`,
    `CPU during the sale (cores): ${Object.entries(r.cpuCores).map(([k, v]) => `${k} ${v ?? 'n/a'}`).join(', ')}`,
    `shoppers by outcome: ${Object.entries(r.outcomes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `errors by code: ${Object.entries(r.errors).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `faults: ${r.faults.map((f) => `+${f1(f.t / 1000)} s ${f.what}`).join('; ') || 'none'}`,
  ];
}

export function renderText(r: RehearsalReport): string {
  return [
    `rehearsal ${r.startedAt} commit ${r.commit}: ${r.topology}; ${r.parameters.shoppers} shoppers, ${r.parameters.units} units`,
    ...summaryLines(r),
    `audit: ${r.audit.ok ? 'PASSED' : 'FAILED'} (settled in ${f1(r.audit.settledInMs / 1000)} s)`,
    ...r.audit.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`),
    `targets: all units sold and paid with a clean audit ${yes(r.targets.allSoldAndPaid)}; sold out in under 10 s ${yes(r.targets.soldOutUnder10s)}; queue:progress lag p99 under 500 ms ${yes(r.targets.progressLagP99Under500ms)}`,
    ...(r.baseline ? [renderBaselineText(r.baseline)] : []),
    ...(r.comparison ? renderComparisonText(r.comparison) : []),
  ].join('\n');
}

export function renderMarkdown(r: RehearsalReport, chartLink: string | null): string {
  const m = r.machine;
  const lat = (name: string, l: LatencySummary) => `| ${name} | ${f0(l.p50)} | ${f0(l.p99)} | ${f0(l.max)} | ${l.count} |`;
  const fault = r.faults.length ? r.faults.map((f) => `+${f1(f.t / 1000)} s ${f.what}`).join('; ') : 'none';
  return [
    `## rehearsal: ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, commit \`${r.commit}\`${r.faults.length ? ` (fault: ${[r.parameters.killNodeAt !== null ? 'kill-node' : '', r.parameters.restartRedisAt !== null ? 'restart-redis' : '', r.parameters.restartMariadbAt !== null ? 'restart-mariadb' : ''].filter(Boolean).join(', ')})` : ''}`,
    '',
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, MariaDB ${m.mariadb} (innodb_flush_log_at_trx_commit=${m.innodbFlushLogAtTrxCommit}); servers, MariaDB, Redis and the load generator on the same machine`,
    `- topology: ${r.topology}`,
    `- parameters: ${Object.entries(r.parameters).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `- faults: ${fault}`,
    '',
    `**Audit: ${r.audit.ok ? 'passed' : 'FAILED'}.** Time to sell out (stock at 0): **${r.timeline.soldOutSeconds === null ? 'never' : `${f1(r.timeline.soldOutSeconds)} s`}**; every unit paid: ${r.timeline.allPaidSeconds === null ? 'no' : `${f1(r.timeline.allPaidSeconds)} s`}; shoppers done: ${f1(r.timeline.shoppersDoneSeconds)} s after the opening.`,
    '',
    '| latency | p50 ms | p99 ms | max ms | n |',
    '| --- | ---: | ---: | ---: | ---: |',
    lat('queue join (POST /queue)', r.latency.queueJoin),
    lat('admission to hold', r.latency.admissionToHold),
    lat('hold to paid', r.latency.holdToPaid),
    lat('`queue:progress` delivery lag', r.latency.queueProgressLag),
    ...Object.entries(r.steps).map(([k, l]) => lat(`step: ${k}`, l)),
    '',
    ...(r.serverSide ? [`- ${serverSideLine(r.serverSide)}`] : []),
    ...(r.loadGenerators?.length ? [`- ${loadGeneratorLine(r.loadGenerators)}`] : []),
    `- holds per second since the opening (peak ${r.peaks.holdsPerSecond}): ${r.perSecond.holds.join(' ') || 'none'}`,
    `- paid orders per second (peak ${r.peaks.paymentsPerSecond}): ${r.perSecond.paidOrders.join(' ') || 'none'}`,
    `- peak memory (RSS high-water mark) per node: ${Object.entries(r.peakMemoryMiB).map(([k, v]) => `${k} ${v} MiB`).join(', ')}`,
    `- CPU from the opening to the end, in cores (2 on this machine, shared by everything): ${Object.entries(r.cpuCores).map(([k, v]) => `${k} ${v ?? 'n/a'}`).join(', ')}`,
    `- shoppers by outcome: ${Object.entries(r.outcomes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `- errors by step and code (each retried attempt counted): ${Object.entries(r.errors).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `- orders: ${Object.entries(r.audit.counts.ordersByStatus).map(([k, v]) => `${k} ${v}`).join(', ')}; payments at the gateway: ${Object.entries(r.audit.counts.gatewayByStatus).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    '',
    '| audit check | result | detail |',
    '| --- | --- | --- |',
    ...r.audit.checks.map((c) => `| ${c.name} | ${c.ok ? 'ok' : '**FAILED**'} | ${c.detail.replace(/\|/g, '/')} |`),
    '',
    `Targets: all units sold and paid with a clean audit ${yes(r.targets.allSoldAndPaid)}; sold out in under 10 s ${yes(r.targets.soldOutUnder10s)}; \`queue:progress\` lag p99 under 500 ms ${yes(r.targets.progressLagP99Under500ms)}.`,
    '',
    ...(r.comparison ? ['Dealrush against the one-transaction-per-purchase baseline (same shoppers, seed and arrival curve, run right after):', '', ...renderComparisonMarkdown(r.comparison), ''] : []),
    ...(r.baseline ? [...renderBaselineMarkdown(r.baseline), ''] : []),
    chartLink ? `![Stock, waiting shoppers and payments over the rehearsal](${chartLink})` : '',
    '',
  ].join('\n');
}

/** An SVG chart: stock left, waiting shoppers and paid units over time (top); holds and paid orders per second (bottom). */
export function renderChart(r: RehearsalReport): string {
  const W = 960;
  const H = 520;
  const left = 70;
  const right = 20;
  const top1 = 50;
  const h1 = 260;
  const top2 = 370;
  const h2 = 110;
  const samples = r.samples.filter((s) => s.remaining !== null);
  const t0 = Math.min(0, ...r.samples.map((s) => s.t)) / 1000;
  const t1 = Math.max(5, ...r.samples.map((s) => s.t / 1000), r.perSecond.holds.length, r.perSecond.paidOrders.length);
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (W - left - right);
  const y1max = Math.max(Number(r.parameters.units), ...samples.map((s) => s.waiting ?? 0), 1);
  const y1 = (v: number) => top1 + h1 - (v / y1max) * h1;
  const y2max = Math.max(1, ...r.perSecond.holds, ...r.perSecond.paidOrders);
  const y2 = (v: number) => top2 + h2 - (v / y2max) * h2;
  // One polyline per stretch of answered samples: a gap (no node answered) is left blank.
  const line = (key: 'remaining' | 'waiting' | 'sold', color: string) => {
    const segments: string[][] = [];
    let last = -Infinity;
    for (const s of r.samples) {
      if (s[key] === null) continue;
      if (s.t - last > 2500 || segments.length === 0) segments.push([]);
      segments[segments.length - 1].push(`${x(s.t / 1000).toFixed(1)},${y1(s[key]!).toFixed(1)}`);
      last = s.t;
    }
    return segments.map((pts) => `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`).join('');
  };
  const bars = (values: number[], color: string, offset: number) =>
    values.map((v, i) => (v > 0 ? `<rect x="${(x(i) + offset).toFixed(1)}" y="${y2(v).toFixed(1)}" width="${Math.max(1, (x(i + 1) - x(i)) / 2 - 1).toFixed(1)}" height="${(top2 + h2 - y2(v)).toFixed(1)}" fill="${color}"/>` : '')).join('');
  const ticks: string[] = [];
  const step = t1 - t0 > 120 ? 20 : t1 - t0 > 60 ? 10 : 5;
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
    ticks.push(`<line x1="${x(t)}" y1="${top1}" x2="${x(t)}" y2="${top2 + h2}" stroke="#eee"/><text x="${x(t)}" y="${top2 + h2 + 16}" font-size="11" text-anchor="middle">${t}</text>`);
  }
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${left - 6}" y="${y1(f * y1max) + 4}" font-size="11" text-anchor="end">${Math.round(f * y1max)}</text>`).join('');
  const y2Ticks = [0, 0.5, 1].map((f) => `<text x="${left - 6}" y="${y2(f * y2max) + 4}" font-size="11" text-anchor="end">${Math.round(f * y2max)}</text>`).join('');
  const faults = r.faults.map((f) => `<line x1="${x(f.t / 1000)}" y1="${top1}" x2="${x(f.t / 1000)}" y2="${top2 + h2}" stroke="#c00" stroke-dasharray="4 3"/><text x="${x(f.t / 1000) + 3}" y="${top1 + 12}" font-size="10" fill="#c00">${f.what.split(' (')[0].replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`).join('');
  const legend = [
    ['#1f77b4', 'stock left'],
    ['#ff7f0e', 'waiting shoppers'],
    ['#2ca02c', 'units paid'],
  ].map(([c, label], i) => `<rect x="${left + 10 + i * 150}" y="${top1 - 22}" width="12" height="12" fill="${c}"/><text x="${left + 27 + i * 150}" y="${top1 - 12}" font-size="12">${label}</text>`).join('');
  const legend2 = [
    ['#9467bd', 'holds/s'],
    ['#2ca02c', 'paid orders/s'],
  ].map(([c, label], i) => `<rect x="${left + 10 + i * 150}" y="${top2 - 22}" width="12" height="12" fill="${c}"/><text x="${left + 27 + i * 150}" y="${top2 - 12}" font-size="12">${label}</text>`).join('');
  const title = `Dealrush rehearsal ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC (${r.commit}): ${r.parameters.shoppers} shoppers, ${r.parameters.units} units, ${r.topology.split(',')[0]}${r.faults.length ? `, faults` : ''}; audit ${r.audit.ok ? 'passed' : 'FAILED'}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="${W / 2}" y="18" font-size="13" text-anchor="middle">${title.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>
${ticks.join('')}
<line x1="${x(0)}" y1="${top1}" x2="${x(0)}" y2="${top2 + h2}" stroke="#888"/><text x="${x(0) + 3}" y="${top1 + h1 - 4}" font-size="10" fill="#555">opening</text>
<rect x="${left}" y="${top1}" width="${W - left - right}" height="${h1}" fill="none" stroke="#ccc"/>
<rect x="${left}" y="${top2}" width="${W - left - right}" height="${h2}" fill="none" stroke="#ccc"/>
${yTicks}${y2Ticks}
${line('waiting', '#ff7f0e')}${line('remaining', '#1f77b4')}${line('sold', '#2ca02c')}
${bars(r.perSecond.holds, '#9467bd', 0)}${bars(r.perSecond.paidOrders, '#2ca02c', (x(1) - x(0)) / 2)}
${faults}${legend}${legend2}
<text x="${(left + W - right) / 2}" y="${H - 6}" font-size="12" text-anchor="middle">seconds since the opening</text>
</svg>
`;
}

/** Writes the JSON and the chart; appends the Markdown section to docs/benchmarks.md unless --no-record. */
export function publish(report: RehearsalReport, stamp: string, options: RehearsalOptions): void {
  const resultsDir = join(repoRoot, 'bench', 'results');
  const chartPath = options.record ? join(repoRoot, 'docs', 'images', `rehearsal-${stamp}.svg`) : join(resultsDir, `rehearsal-${stamp}.svg`);
  mkdirSync(dirname(chartPath), { recursive: true });
  report.chart = relative(repoRoot, chartPath);
  writeFileSync(chartPath, renderChart(report));
  const jsonPath = join(resultsDir, `rehearsal-${stamp}.json`);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  if (options.jsonPath) {
    mkdirSync(dirname(options.jsonPath), { recursive: true });
    copyFileSync(jsonPath, options.jsonPath);
  }
  if (options.record) {
    const docs = join(repoRoot, 'docs', 'benchmarks.md');
    appendMarkdown(docs, renderMarkdown(report, relative(dirname(docs), chartPath)));
    // The README shows the latest recorded rehearsal.
    copyFileSync(chartPath, join(repoRoot, 'docs', 'images', 'rehearsal.svg'));
  }
  console.error(`\n${options.record ? 'appended to docs/benchmarks.md; ' : 'not recorded (--no-record); '}raw result in ${relative(process.cwd(), jsonPath)}; chart in ${relative(process.cwd(), chartPath)}`);
}
