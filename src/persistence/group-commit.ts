import { Batcher } from './batcher';
import type { Database } from './database';
import { ImmediateWriteError, WriteSet } from './write-set';

/**
 * Writes of one commit: adds its statements to `writes` (and may run nothing itself) and returns
 * what its caller needs once they have committed. It may be called more than once (again, on its
 * own, after a group it was in failed), so it must only describe writes.
 */
export type CommitWrites<T> = (writes: WriteSet) => Promise<T> | T;

interface Member {
  fill: CommitWrites<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** What a {@link GroupCommit} has done so far (for `/metrics` and the benchmarks). */
export interface GroupCommitStats {
  /** Transactions committed with more than one member, and the members they carried. */
  groups: number;
  grouped: number;
  /** Members committed in a transaction of their own (alone in the queue, or after a failed group). */
  alone: number;
  /** Groups that failed before COMMIT, whose members were then committed one by one. */
  retried: number;
}

/**
 * Group commit across actors (MariaDB). Commits submitted while others are on their way to the
 * database are committed together by the next group: their statements in one multi-statement
 * packet that opens the transaction, then one COMMIT, so N small commits cost two round trips
 * and one log flush instead of 2N and N. A commit submitted while the database is idle goes at once
 * (no wait is added). Up to `concurrency` groups are in flight at a time.
 *
 * Each member keeps its own guarantees: its writes carry their own checks (fencing tokens, stock
 * guards), and a group commits only if every check of every member passes. When anything fails
 * before COMMIT (a check, a refused statement, a deadlock, a member that needs a write at once),
 * the group rolls back and each member is committed again in a transaction of its own, so one
 * member's failure is that member's alone. A failed COMMIT fails every member (as a failed COMMIT
 * fails a single transaction): whether it took effect is unknown, and the caller's recovery (an
 * actor steps down and reloads) is the one that copes with that.
 *
 * The same technique as InnoDB's own group commit of log flushes and Postgres's `commit_delay`,
 * applied one level up, to whole transactions of independent actors.
 */
export class GroupCommit {
  /** The queue and its flushes (members settle themselves: a flush never throws). */
  private readonly members: Batcher<Member, void>;
  readonly stats: GroupCommitStats = { groups: 0, grouped: 0, alone: 0, retried: 0 };

  /**
   * @param db the database (MariaDB; on SQLite there is one connection and nothing to gain)
   * @param options `maxMembers` per group (default 200), `concurrency`: groups in flight (default 4)
   */
  constructor(
    private readonly db: Database,
    options: { maxMembers?: number; concurrency?: number } = {},
  ) {
    this.members = new Batcher(
      async (members) => {
        await this.flush(members);
        return members.map(() => undefined);
      },
      { maxBatch: options.maxMembers ?? 200, concurrency: options.concurrency ?? 4 },
    );
  }

  /**
   * Commits the writes `fill` describes, with others' if some are waiting, and resolves with
   * `fill`'s result once they are durable.
   * @throws whatever `fill` or the database throws for this member when it commits on its own
   *   (a `FencedError` from a check, `ER_DUP_ENTRY`, a lost connection), or the COMMIT's error.
   */
  commit<T>(fill: CommitWrites<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.members.submit({ fill, resolve: resolve as (value: unknown) => void, reject }).catch(reject);
    });
  }

  private async flush(members: Member[]): Promise<void> {
    if (members.length === 1) return this.alone(members[0]);
    // Each member's statements first gathered on their own, so one that cannot be grouped (or
    // whose fill throws) leaves nothing behind in the group's.
    const ready: Array<{ member: Member; writes: WriteSet; result: unknown }> = [];
    const alone: Member[] = [];
    for (const member of members) {
      const writes = WriteSet.collecting('mariadb');
      try {
        ready.push({ member, writes, result: await member.fill(writes) });
      } catch (error) {
        if (error instanceof ImmediateWriteError) alone.push(member);
        else member.reject(error);
      }
    }
    if (ready.length === 1) alone.push(ready[0].member);
    else if (ready.length > 1) {
      let ran = false;
      try {
        await this.db.writeTransaction(async (group) => {
          for (const r of ready) group.append(r.writes);
          await group.run();
          ran = true;
        });
        this.stats.groups += 1;
        this.stats.grouped += ready.length;
        for (const r of ready) r.member.resolve(r.result);
      } catch (error) {
        if (ran) {
          for (const r of ready) r.member.reject(error);
        } else {
          this.stats.retried += 1;
          alone.push(...ready.map((r) => r.member));
        }
      }
    }
    await Promise.all(alone.map((member) => this.alone(member)));
  }

  /** One member in a transaction of its own. */
  private async alone(member: Member): Promise<void> {
    this.stats.alone += 1;
    try {
      member.resolve(
        await this.db.writeTransaction(async (writes) => {
          const result = await member.fill(writes);
          await writes.run();
          return result;
        }),
      );
    } catch (error) {
      member.reject(error);
    }
  }
}
