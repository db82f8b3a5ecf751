import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A bad command line: the bench prints it with the scenario's usage and exits 64 (EX_USAGE). */
export class UsageError extends Error {}

/** The options every scenario takes besides its own. */
const COMMON = {
  quick: { type: 'boolean', default: false },
  'no-record': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

/**
 * Parses a scenario's command line strictly: its own `options` plus `--quick`, `--no-record` and
 * `--help`. @throws UsageError for an unknown option, a missing value or a stray argument
 */
export function scenarioArgs<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: false, options: { ...options, ...COMMON } }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * `--name`'s value as a whole number from `min` to `max`, or `fallback` when the option is absent.
 * @throws UsageError for anything else (a sign, a fraction, a word, out of range)
 */
export function wholeNumber(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  return n;
}

/** Prints a bad command line's reason and the scenario's `usage` to stderr; the exit code 64 (EX_USAGE). */
export function usageFailure(error: unknown, usage: string): number {
  console.error(`bench: ${(error as Error).message}\n\n${usage}`);
  return 64;
}
