import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { runHolds, type HoldsOptions } from './holds';
import { QUEUE_USAGE, runQueueCommand } from './queue';
import { CLUSTER_USAGE, runClusterCommand } from './cluster';
import { DEAL_ENGINE_USAGE, runDealEngineCommand } from './deal-engine';
import { runRehearsalCommand } from './rehearsal';
import { Teardown } from './servers';
import { UsageError, wholeNumber } from './cli';

const USAGE = `usage: npm run bench -- <scenario> [options]

scenarios:
  holds              one hot deal; N connections hold one unit each per request
                     (POST /api/cart/items), Dealrush against a SELECT ... FOR UPDATE baseline

${QUEUE_USAGE}
${CLUSTER_USAGE}
${DEAL_ENGINE_USAGE}

options of holds:
  --rounds N         rounds, each the baseline then Dealrush, each on a fresh server, deal and
                     shoppers (default 3; quick 1); the verdict is the ratio of the medians
  --duration S       seconds of load per system and round (default 10; at most 600)
  --connections N    concurrent keep-alive connections, closed loop (default 512: a flash sale
                     is thousands of shoppers at once; 128 shows a lighter load)
  --units N          stock of the hot deal (default 100000)
  --pool-size N      database pool size of both servers (default 20)
  --shoppers N       shoppers minted, round-robin over requests (default units / 5, so each
                     holds about 5 units; the per-user limit is set so that it never binds)
  --warmup S         seconds of unmeasured load before each system, on a deal and 1000
                     shoppers of its own (default 3; 0 for none)
  --quick            a short smoke run: 1 round, 5 s, 5000 units, 1 s warm-up (explicit options
                     still win)
  --no-record        do not append the result to docs/benchmarks.md (trying a change)
  --compare-with DIR also run the Dealrush of another checkout DIR (built, e.g. a git worktree of
                     the commit before a change) in every round, to measure a change A/B
  --help             this text

Needs MariaDB at 127.0.0.1:3306 (root, no password; BENCH_MYSQL_URL to change) and a build
(npm run build:server). Prints a table, appends it to docs/benchmarks.md (unless --no-record) and writes
bench/results/<scenario>-<timestamp>.json. Exit codes: 0 done, 1 failed or a correctness
mismatch, 64 bad usage, 130 interrupted.`;

/** An absolute path to a built checkout, for --compare-with. */
function compareDir(dir: string): string {
  const root = resolve(dir);
  if (!existsSync(join(root, 'dist', 'src', 'main.js')) || !existsSync(join(root, 'package.json'))) {
    throw new UsageError(`--compare-with ${dir}: no built checkout there (dist/src/main.js and package.json)`);
  }
  return root;
}

/** Parses `argv` (without node and the script) into a scenario name and its options. */
function parseCommandLine(argv: string[]): { scenario: string; options: HoldsOptions } | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        duration: { type: 'string' },
        connections: { type: 'string' },
        units: { type: 'string' },
        'pool-size': { type: 'string' },
        shoppers: { type: 'string' },
        warmup: { type: 'string' },
        rounds: { type: 'string' },
        quick: { type: 'boolean', default: false },
        'no-record': { type: 'boolean', default: false },
        'compare-with': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'name a scenario (holds)' : `one scenario at a time (got ${positionals.join(', ')})`);
  const scenario = positionals[0];
  if (scenario !== 'holds') throw new UsageError(`unknown scenario "${scenario}" (known: holds)`);
  const quick = values.quick === true;
  const units = wholeNumber('units', values.units, quick ? 5_000 : 100_000, 100, 10_000_000);
  const shoppers = values.shoppers === undefined ? null : wholeNumber('shoppers', values.shoppers, 0, Math.ceil((units * 2) / 1000), 1_000_000);
  return {
    scenario,
    options: {
      quick,
      durationSeconds: wholeNumber('duration', values.duration, quick ? 5 : 10, 1, 600),
      connections: wholeNumber('connections', values.connections, 512, 1, 2000),
      units,
      poolSize: wholeNumber('pool-size', values['pool-size'], 20, 1, 100),
      shoppers,
      warmupSeconds: wholeNumber('warmup', values.warmup, quick ? 1 : 3, 0, 60),
      rounds: wholeNumber('rounds', values.rounds, quick ? 1 : 3, 1, 20),
      record: values['no-record'] !== true,
      compareWith: values['compare-with'] === undefined ? null : compareDir(values['compare-with']),
    },
  };
}

/** `npm run bench -- <scenario> [options]`: runs one benchmark scenario end to end. */
async function main(): Promise<number> {
  if (process.argv[2] === 'queue') return runQueueCommand(process.argv.slice(3));
  if (process.argv[2] === 'cluster') return runClusterCommand(process.argv.slice(3));
  if (process.argv[2] === 'checkout') return (require('./checkout') as typeof import('./checkout')).runCheckoutCommand(process.argv.slice(3));
  if (process.argv[2] === 'rehearsal') return runRehearsalCommand(process.argv.slice(3));
  if (process.argv[2] === 'deal-engine') return runDealEngineCommand(process.argv.slice(3));
  let command;
  try {
    command = parseCommandLine(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`bench: ${error.message}\n\n${USAGE}`);
    return 64;
  }
  if (command === 'help') {
    console.log(USAGE);
    return 0;
  }
  const teardown = new Teardown();
  const interrupted = (signal: string) => {
    console.error(`\nbench: ${signal}: stopping servers and dropping the bench database`);
    void teardown.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => interrupted('SIGINT'));
  process.once('SIGTERM', () => interrupted('SIGTERM'));
  try {
    const report = await runHolds(command.options, teardown);
    const mismatched = report.runs.filter((r) => !r.correctness.ok).map((r) => `${r.system} (round ${r.round})`);
    if (mismatched.length > 0) {
      console.error(`bench: correctness check failed for ${mismatched.join(', ')}`);
      return 1;
    }
    return 0;
  } catch (error) {
    console.error(`bench: ${(error as Error).stack ?? error}`);
    return 1;
  } finally {
    await teardown.run();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
