import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type } from 'node:os';
import { dirname } from 'node:path';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { LoadResult } from './load';

/** Where the numbers were measured. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  mariadb: string;
  innodbFlushLogAtTrxCommit: string;
}

/** What the database says after a run, compared with the 201s the load generator counted. */
export interface Correctness {
  created: number;
  /** `held_units` of the deal row (Dealrush) or `total - remaining` (baseline). */
  heldUnits: number;
  remaining: number;
  holdRows: number;
  holdUnits: number;
  ok: boolean;
}

/** CPU used during the load, in cores (CPU seconds / wall seconds); null where not measurable. */
export interface CpuUse {
  server: number | null;
  database: number | null;
  loadGenerator: number | null;
  /** Everything else on the machine (other processes, the kernel); a large value means a noisy run. */
  other: number | null;
  /** Taken by the hypervisor. */
  steal: number | null;
}

/** One system's run of a scenario (one round). */
export interface SystemRun {
  system: string;
  /** 1-based round; each round runs every system once, one at a time. */
  round: number;
  result: LoadResult;
  holdsPerSecond: number;
  correctness: Correctness;
  cpu: CpuUse;
  serverLog: { warn: number; error: number; fatal: number; other: number; samples: string[] };
}

export interface BenchReport {
  scenario: string;
  startedAt: string;
  commit: string;
  machine: MachineInfo;
  parameters: Record<string, string | number | boolean>;
  runs: SystemRun[];
  /** Per system: the median over its rounds of holds/s and of p99 (ms). */
  medians: Record<string, { holdsPerSecond: number; p99: number; rounds: number }>;
  /** Dealrush / baseline holds/s of each round on its own, in round order. */
  roundRatios: number[];
  /** Dealrush / baseline of the medians: throughput (higher is better) and p99 (lower is better). */
  ratios: { throughput: number; p99: number } | null;
  targetMet: boolean | null;
}

/** Machine facts for the report: CPU model and cores, memory, OS, Node, MariaDB version and flush setting. */
export async function machineInfo(db: Connection): Promise<MachineInfo> {
  const [[version]] = await db.query<RowDataPacket[]>('SELECT VERSION() AS v');
  const [[flush]] = await db.query<RowDataPacket[]>('SELECT @@innodb_flush_log_at_trx_commit AS v');
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${type()} ${release()}`,
    node: process.version,
    mariadb: String(version.v),
    innodbFlushLogAtTrxCommit: String(flush.v),
  };
}

/** `git rev-parse --short HEAD`, plus `-dirty` when `git status --porcelain` lists anything. */
export function gitRevision(cwd: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** The median of `values`, NaNs left out (the mean of the middle two for an even count); NaN when none. */
export function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
const cores = (v: number | null) => (v === null ? '-' : v.toFixed(2));

function errorsByCode(outcomes: Record<string, number>): string {
  const errors = Object.entries(outcomes)
    .filter(([k]) => k !== '201')
    .sort((a, b) => b[1] - a[1]);
  return errors.length === 0 ? 'none' : errors.map(([k, n]) => `${k} ${n}`).join(', ');
}

const HEADER = ['scenario', 'system', 'round', 'requests', '201s', 'errors by code', 'holds/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'];
/** Columns printed right-aligned (numbers). */
const numeric = (i: number) => i >= 3 && i !== 5;

/** One row per run in run order, then one `median` row per system when there are several rounds. */
function rows(report: BenchReport): string[][] {
  const runRows = report.runs.map((run) => {
    const l = run.result.latency;
    return [report.scenario, run.system, String(run.round), String(run.result.requests), String(run.result.created), errorsByCode(run.result.outcomes), run.holdsPerSecond.toFixed(0), ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max)];
  });
  const medianRows = Object.entries(report.medians)
    .filter(([, m]) => m.rounds > 1)
    .map(([system, m]) => [report.scenario, system, `median of ${m.rounds}`, '', '', '', m.holdsPerSecond.toFixed(0), '', '', ms(m.p99), '']);
  return [...runRows, ...medianRows];
}

function ratioLine(report: BenchReport): string {
  if (!report.ratios) return 'ratio: not available (a system did not run)';
  const { throughput, p99 } = report.ratios;
  const verdict = report.targetMet ? 'met' : 'NOT met';
  const rounds = report.roundRatios.length;
  const of = rounds > 1 ? ` (medians of ${rounds} rounds; each round: ${report.roundRatios.map((r) => `x${r.toFixed(2)}`).join(', ')})` : '';
  return `Dealrush / baseline${of}: throughput x${throughput.toFixed(2)}, p99 x${p99.toFixed(2)} (target: throughput >= 3x at equal or better p99: ${verdict})`;
}

/**
 * For a run that also ran another Dealrush build (`--compare-with`): this build against it, per
 * round (same round, back to back) and of the medians. Empty otherwise.
 */
function comparisonLines(report: BenchReport): string[] {
  const [baseline, dealrush, ...others] = Object.keys(report.medians);
  if (!baseline || !dealrush) return [];
  return others.map((other) => {
    const perRound = report.runs
      .filter((r) => r.system === dealrush)
      .map((d) => {
        const o = report.runs.find((r) => r.system === other && r.round === d.round);
        return o && o.holdsPerSecond > 0 ? `x${(d.holdsPerSecond / o.holdsPerSecond).toFixed(3)}` : '-';
      });
    const m = report.medians;
    const efficiency = (system: string) => median(report.runs.filter((r) => r.system === system).map((r) => holdsPerCpuSecond(r) ?? NaN));
    const perRoundEfficiency = report.runs
      .filter((r) => r.system === dealrush)
      .map((d) => {
        const o = report.runs.find((r) => r.system === other && r.round === d.round);
        const [a, b] = [holdsPerCpuSecond(d), o ? holdsPerCpuSecond(o) : null];
        return a !== null && b !== null ? `x${(a / b).toFixed(3)}` : '-';
      });
    return `${dealrush} / ${other}: throughput x${(m[dealrush].holdsPerSecond / m[other].holdsPerSecond).toFixed(3)} of the medians (each round: ${perRound.join(', ')}), p99 x${(m[dealrush].p99 / m[other].p99).toFixed(2)}, holds per server CPU second x${(efficiency(dealrush) / efficiency(other)).toFixed(3)} (each round: ${perRoundEfficiency.join(', ')}); ${other} / baseline: x${(m[other].holdsPerSecond / m[baseline].holdsPerSecond).toFixed(2)}`;
  });
}

const runName = (run: SystemRun) => `${run.system}, round ${run.round}`;

function correctnessLine(run: SystemRun): string {
  const c = run.correctness;
  return `${runName(run)}: ${c.ok ? 'OK' : 'MISMATCH'}: 201s ${c.created}, held units ${c.heldUnits}, hold rows ${c.holdRows} (${c.holdUnits} units), remaining ${c.remaining}`;
}

function timelineLine(run: SystemRun): string {
  return `${runName(run)}: ${run.result.createdPerSecond.join(' ')}`;
}

/** Holds per CPU second of the server: what a CPU-bound server does with the CPU it got (null if unknown). */
export function holdsPerCpuSecond(run: SystemRun): number | null {
  const seconds = run.cpu.server === null ? 0 : run.cpu.server * (run.result.elapsedMs / 1000);
  return seconds > 0 ? run.result.created / seconds : null;
}

/** Cores that processes other than the server, MariaDB and the load generator used, above which a run counts as disturbed. */
export const DISTURBED_CORES = 0.25;
const disturbed = (run: SystemRun) => run.cpu.other !== null && run.cpu.other > DISTURBED_CORES;

function disturbedLine(report: BenchReport): string[] {
  const runs = report.runs.filter(disturbed);
  if (runs.length === 0) return [];
  return [`Disturbed: ${runs.length} of ${report.runs.length} runs had other processes using over ${DISTURBED_CORES} cores (${runs.map((r) => `${r.system} round ${r.round}: ${cores(r.cpu.other)}`).join('; ')}); their numbers say little.`];
}

function cpuLine(run: SystemRun): string {
  const efficiency = holdsPerCpuSecond(run);
  return `${runName(run)}: server ${cores(run.cpu.server)} cores${efficiency === null ? '' : ` (${efficiency.toFixed(0)} holds per CPU second)`}, MariaDB ${cores(run.cpu.database)} cores, load generator ${cores(run.cpu.loadGenerator)} cores, anything else ${cores(run.cpu.other)} cores (steal ${cores(run.cpu.steal)}), over ${(run.result.elapsedMs / 1000).toFixed(1)} s (stopped by ${run.result.stoppedBy})`;
}

/** The plain-text table and notes printed to stdout. */
export function renderText(report: BenchReport): string {
  const table = [HEADER, ...rows(report)];
  const widths = HEADER.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (numeric(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ');
  return [
    line(table[0]),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...table.slice(1).map(line),
    '',
    ratioLine(report),
    ...comparisonLines(report),
    ...disturbedLine(report),
    '',
    'correctness (database after the run):',
    ...report.runs.map((r) => `  ${correctnessLine(r)}`),
    'CPU during the load:',
    ...report.runs.map((r) => `  ${cpuLine(r)}`),
    '201s in each second of the load:',
    ...report.runs.map((r) => `  ${timelineLine(r)}`),
    'server logs (warn and above):',
    ...report.runs.map((r) => `  ${runName(r)}: ${r.serverLog.warn} warn, ${r.serverLog.error} error, ${r.serverLog.fatal} fatal${r.serverLog.samples.length ? `; first: ${r.serverLog.samples[0]}` : ''}`),
  ].join('\n');
}

/** The Markdown section appended to docs/benchmarks.md. */
export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  const escape = (s: string) => s.replace(/\|/g, '\\|');
  const params = Object.entries(report.parameters)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    `## ${report.scenario}${report.parameters.quick ? ' (quick)' : ''}: ${report.startedAt.replace('T', ' ').slice(0, 16)} UTC`,
    '',
    `- commit: \`${report.commit}\``,
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, MariaDB ${m.mariadb} (innodb_flush_log_at_trx_commit=${m.innodbFlushLogAtTrxCommit}); load generator, servers and MariaDB on the same machine`,
    `- parameters: ${params}`,
    '',
    `| ${HEADER.join(' | ')} |`,
    `| ${HEADER.map((_, i) => (numeric(i) ? '---:' : '---')).join(' | ')} |`,
    ...rows(report).map((r) => `| ${r.map(escape).join(' | ')} |`),
    '',
    ratioLine(report),
    ...comparisonLines(report).map((line) => `\n${line}`),
    ...disturbedLine(report).map((line) => `\n${line}`),
    '',
    'Correctness (database after the run):',
    '',
    ...report.runs.map((r) => `- ${correctnessLine(r)}`),
    '',
    'CPU during the load:',
    '',
    ...report.runs.map((r) => `- ${cpuLine(r)}`),
    '',
    '201s in each second of the load:',
    '',
    ...report.runs.map((r) => `- ${timelineLine(r)}`),
    '',
  ].join('\n');
}

const INTRO = `# Benchmarks

Each section below was appended by \`npm run bench -- <scenario>\` (see \`bench/run.ts\`), newest last.
Latencies are per request, measured by the closed-loop load generator (\`bench/load.ts\`) on the
same machine as the servers and MariaDB, so all three share its cores. Raw results are written to
\`bench/results/\`. A run is several rounds (\`--rounds\`), each the baseline then Dealrush on fresh
servers, deals and shoppers, interleaved so that the machine's noise falls on both; the verdict is
the ratio of the medians. Each server first gets a few seconds of unmeasured warm-up load on a deal
and shoppers of its own (\`--warmup\`), so the measured shoppers still arrive with cold carts.

Scenarios:

- \`holds\`: one hot deal, N shoppers' connections each holding one unit at a time
  (\`POST /api/cart/items\`), until the duration ends or the deal sells out. Dealrush (deal actor,
  group commit) against a baseline doing the classic transaction per purchase
  (\`SELECT ... FOR UPDATE\`, \`UPDATE\`, \`INSERT\`, \`COMMIT\`) on the same MariaDB.

`;

/** Appends `section` to the Markdown file at `path`, creating it with a short intro if missing. */
export function appendMarkdown(path: string, section: string): void {
  mkdirSync(dirname(path), { recursive: true });
  if (!existsSync(path)) writeFileSync(path, INTRO);
  appendFileSync(path, `\n${section}`);
}

/** Writes the raw report as JSON (summaries only, no per-request samples: a few KB). */
export function writeJson(path: string, report: object): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
}
