import { cpus, release, totalmem, type } from 'node:os';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { scenarioArgs, usageFailure, UsageError, wholeNumber } from './cli';
import { appendMarkdown, gitRevision, median, writeJson } from './report';
import { repoRoot } from './servers';

/**
 * The `deal-engine` scenario: the deal actor's pure transition (no database, no network) driven the
 * way a sale drives it, at growing sizes, to show how a turn's cost grows with the number of live
 * holds. A sale of n units: one-unit holds arrive 1 ms apart (1,000 a second) with a 15 s lifetime
 * (the rehearsal's); every second shopper checks out 200 ms after holding and pays 400 ms later, the
 * others let their hold expire. The `holds` reminder is fired at the time each turn asks for, as
 * the runtime does. The second sale runs the same through the waiting room ({@link roomSale}). The
 * baseline is the same engine at the smallest size: a per-turn cost that stays flat as n grows is
 * O(log n) per turn; one that grows with n is a walk over every hold or ticket.
 */

/** The two functions of a built deal engine the scenario drives (`dist/src/actors/deal`). */
export interface EngineModule {
  dealTransition: (state: unknown, message: unknown, rules: unknown) => { state: { deal: { soldUnits: number; heldUnits: number; remainingStock: number; totalStock: number } | null }; reply?: unknown; effects?: Array<{ type: string; name?: string; at?: number | null }> };
  emptyDealState: () => unknown;
}

interface SizeRun {
  scenario: string;
  /** Units of the `holds` sale; shoppers of the `waiting room` sale (for half as many units). */
  size: number;
  turns: number;
  holdsReminders: number;
  /** Median over the repetitions of the wall time of all turns (ms). */
  ms: number;
  usPerTurn: number;
  /** usPerTurn / usPerTurn at the smallest size, same engine. */
  ratioToSmallest: number;
  /** sold + held + remaining == total, sold == the shoppers who paid, held == 0 at the end. */
  balanced: boolean;
}

export interface DealEngineReport {
  scenario: 'deal-engine';
  startedAt: string;
  commit: string;
  machine: { cpu: string; cores: number; memoryGiB: number; os: string; node: string };
  parameters: { sizes: number[]; repetitions: number; holdTtlMs: number; paidShare: number };
  engines: Array<{ name: string; runs: SizeRun[] }>;
}

const RULES = { stockPublishIntervalMs: 1000, room: { tickMs: 1000, goneAfterMs: 60_000, admissionTtlMs: 60_000 } };
const HOLD_TTL_MS = 15_000;
const T0 = Date.UTC(2026, 10, 22, 12, 0, 0);
/** Units of the unmeasured sale each engine runs first. */
const WARM_UP_UNITS = 2_000;
/** Largest size the compared engine runs (the engine before the hold index took 28 s at 20,000). */
const COMPARED_MAX_UNITS = 20_000;

function load(root: string): EngineModule {
  const dir = join(root, 'dist', 'src', 'actors', 'deal');
  const transition = require(join(dir, 'transition.js')) as Pick<EngineModule, 'dealTransition'>;
  const state = require(join(dir, 'state.js')) as Pick<EngineModule, 'emptyDealState'>;
  return { dealTransition: transition.dealTransition, emptyDealState: state.emptyDealState };
}

/** One sale of `units` units through `engine`; returns its turn count, `holds` reminders fired, time (ms) and balance. */
export function sale(engine: EngineModule, units: number): { turns: number; reminders: number; ms: number; balanced: boolean } {
  const deal = {
    id: 'd1', sellerId: 's1', title: 'Bench deal', description: '', category: 'bench', imageUrl: null, price: 1000, originalPrice: 2000, currency: 'KRW',
    totalStock: units, perUserLimit: 2, startsAt: T0, endsAt: T0 + 3_600_000, waitingRoom: { enabled: false, admissionPerMinute: 60, maxActive: 10 },
  };
  let state = engine.dealTransition(engine.emptyDealState(), { type: 'create', now: T0, deal }, RULES).state;
  state = engine.dealTransition(state, { type: 'alarm', name: 'open', now: T0 }, RULES).state;
  // The sale's messages in time order (ties: hold, then attach, then sell).
  const events: Array<[number, number, object]> = [];
  let payers = 0;
  for (let i = 0; i < units; i++) {
    const t = T0 + 1 + i;
    events.push([t, 0, { type: 'reserve', now: t, userId: `u${i}`, holdId: `h${i}`, quantity: 1, ttlMs: HOLD_TTL_MS }]);
    if (i % 2 === 0) {
      payers += 1;
      events.push([t + 200, 1, { type: 'attach', now: t + 200, userId: `u${i}`, orderId: `o${i}`, holdIds: [`h${i}`], until: t + 200 + 20_000 }]);
      events.push([t + 600, 2, { type: 'sell', now: t + 600, orderId: `o${i}` }]);
    }
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let reminderAt: number | null = null;
  let turns = 0;
  let reminders = 0;
  const apply = (message: object) => {
    const out = engine.dealTransition(state, message, RULES);
    state = out.state;
    turns += 1;
    for (const e of out.effects ?? []) if (e.type === 'remind' && e.name === 'holds') reminderAt = e.at ?? null;
  };
  const fireDue = (until: number) => {
    while (reminderAt !== null && reminderAt <= until) {
      const at = reminderAt;
      reminderAt = null;
      reminders += 1;
      apply({ type: 'alarm', name: 'holds', now: at });
    }
  };
  const started = performance.now();
  for (const [t, , message] of events) {
    fireDue(t);
    apply(message);
  }
  fireDue(Number.MAX_SAFE_INTEGER);
  const ms = performance.now() - started;
  const d = state.deal!;
  const balanced = d.soldUnits + d.heldUnits + d.remainingStock === d.totalStock && d.soldUnits === payers && d.heldUnits === 0;
  return { turns, reminders, ms, balanced };
}

/**
 * A waiting-room sale through `engine`: `shoppers` join the pre-queue over the 30 s before the
 * opening for `shoppers / 2` units; the room admits 10 % of them a second (`maxActive` = units),
 * each admitted shopper holds one unit 100 ms after `queue:admitted`, and every second one pays
 * (200 and 600 ms later) while the rest let their hold expire. Every reminder and timer the turns
 * ask for (`open`, `queue`, `holds`, `stock`) fires at its time; the sale is driven until nothing is
 * due before the deal's end. Returns turns, `holds` reminders, time (ms) and the stock check.
 */
export function roomSale(engine: EngineModule, shoppers: number): { turns: number; reminders: number; ms: number; balanced: boolean } {
  const units = Math.max(1, Math.floor(shoppers / 2));
  const opensAt = T0 + 30_000;
  const endsAt = T0 + 3_600_000;
  const deal = {
    id: 'd1', sellerId: 's1', title: 'Bench deal', description: '', category: 'bench', imageUrl: null, price: 1000, originalPrice: 2000, currency: 'KRW',
    totalStock: units, perUserLimit: 2, startsAt: opensAt, endsAt, waitingRoom: { enabled: true, admissionPerMinute: shoppers * 6, maxActive: units },
  };
  // Timed messages in a binary min-heap by (time, insertion order).
  const heap: Array<{ at: number; seq: number; message: object }> = [];
  let seq = 0;
  const before = (x: (typeof heap)[number], y: (typeof heap)[number]) => x.at < y.at || (x.at === y.at && x.seq < y.seq);
  const push = (at: number, message: object) => {
    heap.push({ at, seq: seq++, message });
    for (let i = heap.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if (!before(heap[i], heap[up])) break;
      [heap[i], heap[up]] = [heap[up], heap[i]];
      i = up;
    }
  };
  const pop = () => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l], heap[m])) m = l;
        if (r < heap.length && before(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  };
  // Reminders and timers by name: only the latest setting of each counts (as in the runtime).
  const armed = new Map<string, number>();
  let turns = 0;
  let reminders = 0;
  let sold = 0;
  let state = engine.dealTransition(engine.emptyDealState(), { type: 'create', now: T0, deal }, RULES).state;
  const apply = (message: { type: string; now: number; [k: string]: unknown }) => {
    const out = engine.dealTransition(state, message, RULES);
    state = out.state;
    turns += 1;
    const reply = out.reply as { ok?: boolean; value?: { sold?: number } } | undefined;
    if (message.type === 'sell' && reply?.ok) sold += reply.value?.sold ?? 0;
    if (message.type === 'reserve' && reply?.ok && Number(String(message.userId).slice(1)) % 2 === 0) {
      const { userId, now } = message as unknown as { userId: string; now: number };
      push(now + 200, { type: 'attach', now: now + 200, userId, orderId: `o-${userId}`, holdIds: [`h-${userId}`], until: now + 20_200 });
      push(now + 600, { type: 'sell', now: now + 600, orderId: `o-${userId}` });
    }
    for (const e of (out.effects ?? []) as Array<{ type: string; name?: string; at?: number | null; event?: string; payload?: { userId?: string } }>) {
      if ((e.type === 'remind' || e.type === 'timer') && e.name) {
        if (e.at === null || e.at === undefined) armed.delete(e.name);
        else {
          armed.set(e.name, e.at);
          push(e.at, { type: 'alarm', name: e.name, now: e.at, armedAt: e.at });
        }
      } else if (e.type === 'publish' && e.event === 'queue:admitted' && e.payload?.userId) {
        const userId = e.payload.userId;
        push(message.now + 100, { type: 'reserve', now: message.now + 100, userId, holdId: `h-${userId}`, quantity: 1, ttlMs: HOLD_TTL_MS, admitted: true });
      }
    }
  };
  for (let i = 0; i < shoppers; i++) {
    const t = T0 + 1 + Math.floor((i * 29_000) / shoppers);
    push(t, { type: 'join', now: t, userId: `u${i}`, ticketId: `t${i}` });
  }
  const started = performance.now();
  apply({ type: 'alarm', name: 'open', now: T0 }); // re-arms itself for the opening
  while (heap.length > 0 && heap[0].at < endsAt) {
    const { message } = pop() as { message: { type: string; now: number; name?: string; armedAt?: number; entropy?: string } };
    if (message.type === 'alarm') {
      if (armed.get(message.name!) !== message.armedAt) continue; // re-armed or cleared since
      armed.delete(message.name!);
      if (message.name === 'holds') reminders += 1;
      const { armedAt: _armedAt, ...alarm } = message;
      apply({ ...alarm, entropy: '0123456789abcdef' });
    } else apply(message);
  }
  const ms = performance.now() - started;
  const d = state.deal!;
  const balanced = d.soldUnits + d.heldUnits + d.remainingStock === d.totalStock && d.soldUnits === sold && sold > 0;
  return { turns, reminders, ms, balanced };
}

/** Runs every size `repetitions` times per engine (engines alternated within a size) and reports. */
export function runDealEngine(options: { sizes: number[]; repetitions: number; compareWith: string | null; record: boolean }): DealEngineReport {
  const engines = [{ name: `Dealrush (${gitRevision(repoRoot)})`, engine: load(repoRoot) }];
  if (options.compareWith) engines.push({ name: `compared: ${gitRevision(options.compareWith)} (${options.compareWith})`, engine: load(options.compareWith) });
  const runs = engines.map(() => [] as SizeRun[]);
  for (const e of engines) for (const scenario of SCENARIOS) scenario.run(e.engine, WARM_UP_UNITS); // compiled code before the clock
  for (const scenario of SCENARIOS) {
    for (const size of options.sizes) {
      // The compared engine may walk every hold per turn (O(n^2) a sale): it stops at COMPARED_MAX_UNITS.
      const running = engines.map((_, i) => i === 0 || size <= COMPARED_MAX_UNITS);
      const samples = engines.map(() => [] as Array<ReturnType<typeof sale>>);
      for (let r = 0; r < options.repetitions; r++) {
        engines.forEach((e, i) => {
          if (!running[i]) return;
          samples[i].push(scenario.run(e.engine, size));
          process.stderr.write('.');
        });
      }
      engines.forEach((_, i) => {
        if (!running[i]) return;
        const s = samples[i];
        const ms = median(s.map((x) => x.ms));
        const usPerTurn = (1000 * ms) / s[0].turns;
        const smallest = runs[i].find((x) => x.scenario === scenario.name)?.usPerTurn ?? usPerTurn;
        runs[i].push({ scenario: scenario.name, size, turns: s[0].turns, holdsReminders: s[0].reminders, ms, usPerTurn, ratioToSmallest: usPerTurn / smallest, balanced: s.every((x) => x.balanced) });
      });
    }
  }
  process.stderr.write('\n');
  const report: DealEngineReport = {
    scenario: 'deal-engine',
    startedAt: new Date().toISOString(),
    commit: gitRevision(repoRoot),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, os: `${type()} ${release()}`, node: process.version },
    parameters: { sizes: options.sizes, repetitions: options.repetitions, holdTtlMs: HOLD_TTL_MS, paidShare: 0.5 },
    engines: engines.map((e, i) => ({ name: e.name, runs: runs[i] })),
  };
  console.log(renderTable(report));
  const stamp = report.startedAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const jsonPath = join(repoRoot, 'bench', 'results', `deal-engine-${stamp}.json`);
  writeJson(jsonPath, report);
  if (options.record) {
    appendMarkdown(join(repoRoot, 'docs', 'benchmarks.md'), renderMarkdown(report));
    console.log(`\nrecorded in docs/benchmarks.md; raw result in ${jsonPath}`);
  } else console.log(`\nnot recorded (--no-record); raw result in ${jsonPath}`);
  return report;
}

/** The two sales, by name: one-unit holds without a waiting room, and the same through one. */
const SCENARIOS = [
  { name: 'holds', run: sale },
  { name: 'waiting room', run: roomSale },
];

const rows = (r: DealEngineReport) =>
  r.engines.flatMap((e) => e.runs.map((x) => [e.name, x.scenario, x.size.toLocaleString('en-US'), String(x.turns), String(x.holdsReminders), x.ms.toFixed(0), x.usPerTurn.toFixed(1), `x${x.ratioToSmallest.toFixed(2)}`, x.balanced ? 'ok' : 'MISMATCH']));
const HEAD = ['engine', 'sale', 'units (holds) / shoppers (room)', 'turns', 'holds reminders', 'ms (median)', 'µs per turn', 'per turn vs smallest', 'stock check'];

function renderTable(r: DealEngineReport): string {
  const all = [HEAD, ...rows(r)];
  const widths = HEAD.map((_, c) => Math.max(...all.map((row) => row[c].length)));
  return all.map((row) => row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n');
}

function renderMarkdown(r: DealEngineReport): string {
  const m = r.machine;
  return [
    `## deal-engine, ${r.startedAt} (commit ${r.commit})`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}. The deal actor's transition alone (no database). \`holds\`: one-unit holds 1 ms apart, ${r.parameters.holdTtlMs / 1000} s lifetime, every second shopper pays, the rest expire. \`waiting room\`: n shoppers join the pre-queue for n/2 units, 10 % admitted a second, each holds one unit, every second one pays. Median of ${r.parameters.repetitions} repetitions.`,
    '',
    `| ${HEAD.join(' | ')} |`,
    `| ${HEAD.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
    ...rows(r).map((row) => `| ${row.join(' | ')} |`),
    '',
  ].join('\n');
}

export const DEAL_ENGINE_USAGE = `  deal-engine        the deal actor's transition alone (no database) through a sale of n units,
                     and of n shoppers through the waiting room, at growing n: µs per turn and its
                     ratio to the smallest n (flat = O(log n))
                     options: --sizes N,N,... (default 1000,10000,20000,100000; quick 1000,10000),
                     --repetitions N (default 3), --compare-with DIR (another built checkout,
                     alternated with this one, up to 20000 units), --quick, --no-record`;

/** `npm run bench -- deal-engine [options]`. Exit codes: 0 done, 1 a stock mismatch, 64 bad usage. */
export function runDealEngineCommand(argv: string[]): number {
  let options: { sizes: number[]; repetitions: number; compareWith: string | null; record: boolean };
  try {
    const values = scenarioArgs(argv, { sizes: { type: 'string' }, repetitions: { type: 'string' }, 'compare-with': { type: 'string' } });
    if (values.help) {
      console.log(`usage: npm run bench -- deal-engine [options]\n\n${DEAL_ENGINE_USAGE}`);
      return 0;
    }
    const sizeText = values.sizes ?? (values.quick ? '1000,10000' : '1000,10000,20000,100000');
    const sizes = sizeText.split(',').map(Number);
    if (sizes.some((n) => !Number.isInteger(n) || n < 10 || n > 1_000_000)) throw new UsageError(`--sizes must be whole numbers from 10 to 1000000, comma-separated (got ${JSON.stringify(sizeText)})`);
    let compareWith: string | null = null;
    if (values['compare-with'] !== undefined) {
      compareWith = resolve(values['compare-with']);
      if (!existsSync(join(compareWith, 'dist', 'src', 'actors', 'deal', 'transition.js'))) throw new UsageError(`--compare-with ${values['compare-with']}: no built checkout there (dist/src/actors/deal/transition.js)`);
    }
    options = { sizes: [...sizes].sort((a, b) => a - b), repetitions: wholeNumber('repetitions', values.repetitions, 3, 1, 20), compareWith, record: values['no-record'] !== true };
  } catch (error) {
    return usageFailure(error, DEAL_ENGINE_USAGE);
  }
  const report = runDealEngine(options);
  return report.engines.every((e) => e.runs.every((r) => r.balanced)) ? 0 : 1;
}
