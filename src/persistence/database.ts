import type { DataSource, EntityManager } from 'typeorm';
import { WriteSet } from './write-set';

/**
 * The process's database handle. Every unit of work goes through {@link Database.transaction} or
 * {@link Database.read} with the `EntityManager` passed explicitly (never a global repository).
 *
 * SQLite (embedded mode) has one connection: TypeORM would interleave two concurrent transactions
 * on it, so here they are serialized by an in-process queue. MariaDB runs them on its pool.
 */
export class Database {
  private tail: Promise<unknown> = Promise.resolve();
  readonly serialized: boolean;

  constructor(readonly dataSource: DataSource) {
    this.serialized = dataSource.options.type !== 'mariadb' && dataSource.options.type !== 'mysql';
  }

  get dialect(): 'mariadb' | 'sqlite' {
    return this.serialized ? 'sqlite' : 'mariadb';
  }

  /**
   * Runs `work` in one transaction; it commits when `work` resolves and rolls back when it throws.
   * `isolation` 'READ COMMITTED' (MariaDB; SQLite ignores it) takes no gap locks: for bulk deletes
   * of rows others are inserting next to (the outbox), which under REPEATABLE READ lock the gaps
   * the inserts need and deadlock with them.
   */
  transaction<T>(work: (manager: EntityManager) => Promise<T>, isolation?: 'READ COMMITTED'): Promise<T> {
    if (isolation && !this.serialized) return this.dataSource.transaction(isolation, work);
    return this.exclusive(() => this.dataSource.transaction(work));
  }

  /**
   * Runs `work` in one transaction whose writes are collected in a {@link WriteSet} (an actor
   * batch's commit). On MariaDB the transaction opens lazily: `START TRANSACTION` travels in the
   * first packet of writes and `COMMIT` follows, so a commit whose writes fit one packet costs two
   * round trips. It commits when `work` resolves (after `work` has run the writes) and rolls back
   * when it throws. On SQLite it is {@link transaction} with the statements run one by one.
   */
  async writeTransaction<T>(work: (writes: WriteSet) => Promise<T>): Promise<T> {
    if (this.serialized) return this.transaction((manager) => work(new WriteSet(manager, 'sqlite')));
    const runner = this.dataSource.createQueryRunner();
    const writes = new WriteSet(runner.manager, 'mariadb', true);
    try {
      const result = await work(writes);
      if (writes.started) await runner.query('COMMIT');
      return result;
    } catch (error) {
      if (writes.started) await runner.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      await runner.release();
    }
  }

  /** Runs read-only `work` outside a transaction (on SQLite, between transactions, never inside one). */
  read<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(() => work(this.dataSource.manager));
  }

  /**
   * Runs `work` outside a transaction, each statement committing on its own (autocommit): for
   * single-statement writes that need no transaction around them.
   */
  autocommit<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.exclusive(() => work(this.dataSource.manager));
  }

  /**
   * The MariaDB connection pool now: its size, connections in use, and requests waiting for one
   * (a queue that grows means every query waits behind it). Null on SQLite (no pool).
   * Read from mysql2's pool internals (`_allConnections`, `_freeConnections`, `_connectionQueue`).
   */
  poolStats(): { size: number; busy: number; waiting: number } | null {
    if (this.serialized) return null;
    const pool = (this.dataSource.driver as unknown as { pool?: { _allConnections?: { length: number }; _freeConnections?: { length: number }; _connectionQueue?: { length: number } } }).pool;
    if (!pool?._allConnections || !pool._freeConnections || !pool._connectionQueue) return null;
    const size = pool._allConnections.length;
    return { size, busy: size - pool._freeConnections.length, waiting: pool._connectionQueue.length };
  }

  /** Answers whether the database takes a trivial query now (for `/health/ready`). */
  async ping(): Promise<boolean> {
    try {
      await this.read((m) => m.query('SELECT 1'));
      return true;
    } catch {
      return false;
    }
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (!this.serialized) return work();
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }
}
