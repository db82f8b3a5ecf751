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

/** One system's run of a scenario. */
export interface SystemRun {
  system: string;
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
  /** Dealrush / baseline: throughput (higher is better) and p99 (lower is better). */
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

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
const cores = (v: number | null) => (v === null ? '-' : v.toFixed(2));

function errorsByCode(outcomes: Record<string, number>): string {
  const errors = Object.entries(outcomes)
    .filter(([k]) => k !== '201')
    .sort((a, b) => b[1] - a[1]);
  return errors.length === 0 ? 'none' : errors.map(([k, n]) => `${k} ${n}`).join(', ');
}

const HEADER = ['scenario', 'system', 'requests', '201s', 'errors by code', 'holds/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'];

function rows(report: BenchReport): string[][] {
  return report.runs.map((run) => {
    const l = run.result.latency;
    return [report.scenario, run.system, String(run.result.requests), String(run.result.created), errorsByCode(run.result.outcomes), run.holdsPerSecond.toFixed(0), ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max)];
  });
}

function ratioLine(report: BenchReport): string {
  if (!report.ratios) return 'ratio: not available (a system did not run)';
  const { throughput, p99 } = report.ratios;
  const verdict = report.targetMet ? 'met' : 'NOT met';
  return `Dealrush / baseline: throughput x${throughput.toFixed(2)}, p99 x${p99.toFixed(2)} (target: throughput >= 3x at equal or better p99: ${verdict})`;
}

function correctnessLine(run: SystemRun): string {
  const c = run.correctness;
  return `${run.system}: ${c.ok ? 'OK' : 'MISMATCH'}: 201s ${c.created}, held units ${c.heldUnits}, hold rows ${c.holdRows} (${c.holdUnits} units), remaining ${c.remaining}`;
}

function timelineLine(run: SystemRun): string {
  return `${run.system}: ${run.result.createdPerSecond.join(' ')}`;
}

function cpuLine(run: SystemRun): string {
  return `${run.system}: server ${cores(run.cpu.server)} cores, MariaDB ${cores(run.cpu.database)} cores, load generator ${cores(run.cpu.loadGenerator)} cores, anything else ${cores(run.cpu.other)} cores (steal ${cores(run.cpu.steal)}), over ${(run.result.elapsedMs / 1000).toFixed(1)} s (stopped by ${run.result.stoppedBy})`;
}

/** The plain-text table and notes printed to stdout. */
export function renderText(report: BenchReport): string {
  const table = [HEADER, ...rows(report)];
  const widths = HEADER.map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (i >= 2 && i !== 4 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ');
  return [
    line(table[0]),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...table.slice(1).map(line),
    '',
    ratioLine(report),
    '',
    'correctness (database after the run):',
    ...report.runs.map((r) => `  ${correctnessLine(r)}`),
    'CPU during the load:',
    ...report.runs.map((r) => `  ${cpuLine(r)}`),
    '201s in each second of the load:',
    ...report.runs.map((r) => `  ${timelineLine(r)}`),
    'server logs (warn and above):',
    ...report.runs.map((r) => `  ${r.system}: ${r.serverLog.warn} warn, ${r.serverLog.error} error, ${r.serverLog.fatal} fatal${r.serverLog.samples.length ? `; first: ${r.serverLog.samples[0]}` : ''}`),
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
    `| ${HEADER.map((_, i) => (i >= 2 && i !== 4 ? '---:' : '---')).join(' | ')} |`,
    ...rows(report).map((r) => `| ${r.map(escape).join(' | ')} |`),
    '',
    ratioLine(report),
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
\`bench/results/\`. Each system first gets a few seconds of unmeasured warm-up load on a deal and
shoppers of its own (\`--warmup\`), so the measured shoppers still arrive with cold carts.

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
export function writeJson(path: string, report: BenchReport): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
}
