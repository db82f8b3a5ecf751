import type { DealStatus } from '../../http/schemas';

/**
 * The deal lifecycle as a transition table (in the manner of Vendure's `OrderProcess`): which
 * status may follow which. An illegal move is refused with `INVALID_STATE`, never a crash.
 */
export const dealLifecycle: Record<DealStatus, { to: DealStatus[] }> = {
  scheduled: { to: ['open', 'sold_out', 'paused', 'ended', 'cancelled'] },
  open: { to: ['paused', 'sold_out', 'ended', 'cancelled'] },
  paused: { to: ['scheduled', 'open', 'sold_out', 'ended', 'cancelled'] },
  sold_out: { to: ['open', 'paused', 'ended', 'cancelled'] },
  ended: { to: [] },
  cancelled: { to: [] },
};

export const canMove = (from: DealStatus, to: DealStatus): boolean => dealLifecycle[from].to.includes(to);

/** Whether units that come back may be sold again (the sale is not over). */
export const isSelling = (status: DealStatus): boolean => status !== 'ended' && status !== 'cancelled';

/**
 * Checks a lifecycle table at start-up: every target is a known status, and every non-terminal
 * status can reach `ended`. Returns the problems found (empty when sound).
 */
export function checkLifecycle<S extends string>(table: Record<S, { to: S[] }>, terminal: S[]): string[] {
  const problems: string[] = [];
  const states = Object.keys(table) as S[];
  for (const from of states) {
    for (const to of table[from].to) if (!(to in table)) problems.push(`${from} -> ${to}: unknown status`);
    if (terminal.includes(from) && table[from].to.length > 0) problems.push(`${from} is terminal but has exits`);
    if (!terminal.includes(from)) {
      const seen = new Set<S>([from]);
      const frontier = [from];
      while (frontier.length > 0) for (const next of table[frontier.pop()!].to) if (!seen.has(next)) (seen.add(next), frontier.push(next));
      if (!terminal.some((t) => seen.has(t))) problems.push(`${from} cannot reach a terminal status`);
    }
  }
  return problems;
}
