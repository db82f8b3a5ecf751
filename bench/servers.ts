import { randomBytes } from 'node:crypto';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';

const execFileAsync = promisify(execFile);

/** The repository root (this file runs as `dist/bench/servers.js`). */
export const repoRoot = join(__dirname, '..', '..');

/**
 * Things to undo at the end of a run, in reverse order, once, also after a failure or Ctrl-C
 * (stop servers, drop the bench database, remove temporary files). A failing step is reported and
 * the others still run.
 */
export class Teardown {
  private readonly steps: Array<{ name: string; run: () => Promise<unknown> }> = [];
  private running: Promise<void> | null = null;

  add(name: string, run: () => Promise<unknown>): void {
    this.steps.push({ name, run });
  }

  /** Runs every step added so far, last first; later calls wait for the same run. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.splice(0).reverse()) {
        try {
          await step.run();
        } catch (error) {
          console.error(`teardown: ${step.name} failed: ${(error as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

/**
 * A name for a bench's own MariaDB database: `prefix`, the run's start stamp (digits only) and six
 * random hex digits, so two benches started in the same second (two terminals) never share one.
 * At most 64 characters (MariaDB's limit) for prefixes up to 35.
 */
export function benchDatabaseName(prefix: string, stamp: string): string {
  return `${prefix}${stamp.replace(/\D/g, '')}_${randomBytes(3).toString('hex')}`;
}

/** A free TCP port on the loopback interface (asked of the OS, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A server started as a child process, its output going to `logPath`. */
export interface ServerProcess {
  name: string;
  pid: number;
  origin: string;
  logPath: string;
  /** Where its memory probe writes (set when started with `memoryProbeFile`). */
  memoryProbeFile?: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * The node flags of `npm start` in the checkout at `root` (`"start": "node --flag dist/src/main.js"`
 * gives `['--flag']`), so that the bench runs Dealrush as it is started in production.
 */
export function startNodeArgs(root: string): string[] {
  const start = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts?.start ?? '';
  const words = start.trim().split(/\s+/);
  if (words[0] !== 'node') return [];
  const flags: string[] = [];
  for (const word of words.slice(1)) {
    if (!word.startsWith('-')) break;
    flags.push(word);
  }
  return flags;
}

/**
 * Starts `node <nodeArgs> <script>` with `env` (added to this process's) on `port` of 127.0.0.1
 * and waits until `GET <readyPath>` answers 200.
 * @throws Error when the process exits first or is not ready within `readyTimeoutMs`; the process
 *   is stopped before the error is thrown.
 */
export async function startServer(options: {
  name: string;
  script: string;
  /** Node flags before the script (BENCH_SERVER_NODE_ARGS is added after them). */
  nodeArgs?: string[];
  port: number;
  env: Record<string, string>;
  logPath: string;
  readyPath: string;
  readyTimeoutMs?: number;
  /**
   * Load `memory-probe.js` (with `--expose-gc`) so that `liveMemory(server)` can read the
   * server's memory after a full GC; the probe writes to this file.
   */
  memoryProbeFile?: string;
}): Promise<ServerProcess> {
  const log = createWriteStream(options.logPath);
  // BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the servers.
  const probe = options.memoryProbeFile ? ['--expose-gc', '--require', join(__dirname, 'memory-probe.js')] : [];
  const nodeArgs = [...(options.nodeArgs ?? []), ...probe, ...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const child = spawn(process.execPath, [...nodeArgs, options.script], {
    cwd: repoRoot,
    env: { ...process.env, ...options.env, PORT: String(options.port), HOST: '127.0.0.1', ...(options.memoryProbeFile ? { BENCH_MEMORY_PROBE_FILE: options.memoryProbeFile } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  // Resolves once the process has exited and its log is flushed.
  const finished = exited.then(() => new Promise<void>((resolve) => log.end(resolve)));
  const origin = `http://127.0.0.1:${options.port}`;
  const server: ServerProcess = { name: options.name, pid: child.pid!, origin, logPath: options.logPath, memoryProbeFile: options.memoryProbeFile, stop: (graceMs) => stopChild(child, finished, graceMs) };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let exitCode: number | null | undefined;
  exited.then((code) => (exitCode = code), () => undefined);
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`${options.name} exited with code ${exitCode} before it was ready; see ${options.logPath}`);
    try {
      const response = await request(`${origin}${options.readyPath}`, { headersTimeout: 2000, bodyTimeout: 2000 });
      await response.body.dump();
      if (response.statusCode === 200) return server;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await server.stop();
  throw new Error(`${options.name} was not ready within ${options.readyTimeoutMs ?? 60_000} ms; see ${options.logPath}`);
}

/** A server's memory after two full garbage collections, in bytes (`process.memoryUsage()`). */
export interface LiveMemory {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/**
 * Asks a server started with `memoryProbeFile` for its memory after a full GC (SIGWINCH to the
 * probe) and waits up to `timeoutMs` for the answer.
 * @throws Error when the server has no probe or does not answer in time.
 */
export async function liveMemory(server: ServerProcess, timeoutMs = 10_000): Promise<LiveMemory> {
  const file = server.memoryProbeFile;
  if (!file) throw new Error(`${server.name} was started without a memory probe`);
  const read = (): { probe: number } & LiveMemory => {
    try {
      return JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return { probe: 0, rss: 0, heapUsed: 0, external: 0, arrayBuffers: 0 };
    }
  };
  const before = read().probe;
  process.kill(server.pid, 'SIGWINCH');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    const now = read();
    if (now.probe > before) return { rss: now.rss, heapUsed: now.heapUsed, external: now.external, arrayBuffers: now.arrayBuffers };
  }
  throw new Error(`${server.name} did not answer the memory probe within ${timeoutMs} ms`);
}

async function stopChild(child: ChildProcess, finished: Promise<void>, graceMs = 15_000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await finished;
    clearTimeout(timer);
  }
  await finished;
}

/** A minted account (CONTRACT.md, Accounts: fixtures). */
export interface Account {
  userId: string;
  email: string;
  accessToken: string;
}

/**
 * Runs `dist/src/cli/mint.js` with the server's configuration `env` and reads back the accounts.
 * @throws Error with mint's output when it fails.
 */
export async function mint(role: 'shopper' | 'seller', count: number, out: string, env: Record<string, string>): Promise<Account[]> {
  const script = join(repoRoot, 'dist', 'src', 'cli', 'mint.js');
  try {
    await execFileAsync(process.execPath, [script, '--role', role, '--count', String(count), '--out', out], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`mint --role ${role} failed: ${e.stderr?.trim().split('\n').slice(-5).join('\n') || e.message}`);
  }
  const accounts = readFileSync(out, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as Account);
  if (accounts.length !== count) throw new Error(`mint wrote ${accounts.length} ${role} accounts, expected ${count}`);
  return accounts;
}

/** CPU time (user + system, seconds) a process has used so far, from /proc; null if unreadable. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticksPerSecond = 100; // USER_HZ on Linux
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return null;
  }
}

/**
 * CPU time (seconds) the whole machine has spent busy (user, nice, system, irq, softirq) and
 * stolen by the hypervisor so far, from the first line of /proc/stat; null if unreadable.
 */
export function machineCpuSeconds(): { busy: number; steal: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = fields;
    return { busy: (user + nice + system + irq + softirq) / 100, steal: (steal ?? 0) / 100 };
  } catch {
    return null;
  }
}

/** The pid of the local MariaDB server process (`mariadbd` or `mysqld`), if it runs on this machine. */
export function findDatabasePid(): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm === 'mariadbd' || comm === 'mysqld') return Number(entry);
    } catch {
      // the process went away
    }
  }
  return null;
}

/** Counts of a server log's pino lines by level (warn and above), and the first few messages. */
export function logSummary(logPath: string): { warn: number; error: number; fatal: number; other: number; samples: string[] } {
  const summary = { warn: 0, error: 0, fatal: 0, other: 0, samples: [] as string[] };
  let text = '';
  try {
    text = readFileSync(logPath, 'utf8');
  } catch {
    return summary;
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let entry: { level?: number; msg?: string; err?: { message?: string } } | null = null;
    try {
      entry = JSON.parse(line);
    } catch {
      entry = null;
    }
    const level = entry?.level ?? 0;
    if (level >= 60) summary.fatal += 1;
    else if (level >= 50) summary.error += 1;
    else if (level >= 40) summary.warn += 1;
    else summary.other += 1;
    if ((level >= 40 || !entry) && summary.samples.length < 5) {
      summary.samples.push(entry ? `${entry.msg ?? ''}${entry.err?.message ? `: ${entry.err.message}` : ''}`.slice(0, 300) : line.slice(0, 300));
    }
  }
  return summary;
}

/**
 * Waits for every load process's result, bounded: `graceMs` after `deadline` (epoch ms) the
 * processes are asked for what they have (`post({ type: 'abort' })`, logging `lateMessage`), and
 * 30 s later any still running is SIGKILLed, so a run always ends.
 * @returns the results in process order
 * @throws whatever a result promise throws (a process that died without answering)
 */
export async function boundedResults<T>(options: { workers: ChildProcess[]; results: Array<Promise<T>>; post: (message: object) => void; deadline: number; graceMs: number; lateMessage: string }): Promise<T[]> {
  const { workers, post } = options;
  const hardStop = setTimeout(() => {
    console.error(options.lateMessage);
    post({ type: 'abort' });
    setTimeout(() => {
      for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    }, 30_000).unref();
  }, Math.max(0, options.deadline - Date.now()) + options.graceMs);
  try {
    return await Promise.all(options.results);
  } finally {
    clearTimeout(hardStop);
  }
}
