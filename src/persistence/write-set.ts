import type { EntityManager } from 'typeorm';
import { execute } from './sql';

/**
 * A check of the number of rows one write changed: null when it is as expected, otherwise the
 * error the commit fails with (a fencing token that is no longer the newest, a stock guard).
 */
export type AffectedCheck = (affected: number) => Error | null;

/** Statements sent in one packet at most this long (bytes of SQL text, roughly): well under MariaDB's max_allowed_packet (16 MiB by default). */
const PACKET_BYTES = 1 << 20;

/**
 * The writes of one transaction (an actor batch's commit), collected while the batch's stores
 * describe them and then sent together, in order:
 *
 * - on MariaDB as multi-statement packets (`multipleStatements` on the pool; every value is a
 *   `?` placeholder, escaped by mysql2), so a commit costs one round trip for all of its writes
 *   instead of one per statement;
 * - on SQLite one by one (in-process: there are no round trips to save).
 *
 * Each write may carry an {@link AffectedCheck}. The checks are applied once the statements have
 * run, in order, and the first failure is thrown: the caller's transaction then rolls back, so the
 * other writes of the packet never commit with a failed guard. A statement the database refuses
 * (a duplicate key, say) stops the packet and is thrown as mysql2 reports it (its `code`, e.g.
 * `ER_DUP_ENTRY`).
 *
 * Writes a store must run at once (rare ones, such as creating the actor's row through an
 * entity) go through the manager {@link begin} returns, in the same transaction, before the
 * collected ones.
 *
 * A write set made by {@link WriteSet.collecting} has no transaction: it only gathers statements,
 * for {@link append} to add to another's (a group commit, see `GroupCommit`). Its `begin` throws
 * {@link ImmediateWriteError}, so a batch that needs a write at once commits on its own instead.
 */
export class WriteSet {
  private pending: Write[] = [];
  private bytes = 0;
  private readonly packets: Write[][] = [];
  private begun: boolean;

  /**
   * @param manager the transaction's manager (its query runner holds the transaction's connection)
   * @param dialect how the statements are sent (see the class comment)
   * @param lazyBegin true when the transaction is not open yet: `START TRANSACTION` then travels
   *   in the first packet (or is sent by {@link begin}); see `Database.writeTransaction`
   */
  constructor(
    private readonly manager: EntityManager | null,
    readonly dialect: 'mariadb' | 'sqlite',
    lazyBegin = false,
  ) {
    this.begun = !lazyBegin;
  }

  /** A write set that only gathers statements (no transaction; `begin` and `run` throw). */
  static collecting(dialect: 'mariadb' | 'sqlite'): WriteSet {
    return new WriteSet(null, dialect, true);
  }

  /**
   * Adds every statement `other` has gathered (with its checks and row callbacks), after those
   * added before; `other` is left empty.
   */
  append(other: WriteSet): void {
    other.cut();
    for (const packet of other.packets.splice(0)) for (const write of packet) this.push(write);
  }

  /** Whether the transaction has been opened (always, unless it is opened lazily and nothing ran yet). */
  get started(): boolean {
    return this.begun;
  }

  /**
   * The transaction's manager, for a write that must run at once (rare: creating a row through an
   * entity, claiming a fencing token with a read). Opens the transaction first if needed, so the
   * write is part of it; it runs before the collected statements.
   */
  async begin(): Promise<EntityManager> {
    if (this.manager === null) throw new ImmediateWriteError();
    if (!this.begun) {
      this.begun = true;
      await execute(this.manager, 'START TRANSACTION', []);
    }
    return this.manager;
  }

  /** Number of statements collected and not yet run. */
  get size(): number {
    return this.packets.reduce((n, p) => n + p.length, 0) + this.pending.length;
  }

  /**
   * Adds one statement (`?` placeholders, one value each, no trailing `;`), run after those added
   * before it. `check`, if given, judges the number of rows it changed.
   */
  add(sql: string, values: readonly unknown[], check?: AffectedCheck): void {
    this.push({ sql, values, check });
  }

  /**
   * Adds one SELECT, run in order with the writes (after those added before it); `onRows` gets its
   * rows (column name -> value, as the driver gives them) once the packet has run, before the
   * checks of later statements.
   */
  addRead(sql: string, values: readonly unknown[], onRows: (rows: Array<Record<string, unknown>>) => void): void {
    this.push({ sql, values, onRows });
  }

  /**
   * Runs every statement in order on the transaction's connection, then applies the checks.
   * @returns the number of packets sent (round trips on MariaDB): 1 unless the SQL passes 1 MiB
   * @throws the first check's error, or the database's error for a refused statement
   */
  async run(): Promise<number> {
    if (this.manager === null) throw new Error('a collecting write set has no transaction to run in; append it to one that has');
    this.cut();
    const packets = this.packets.splice(0);
    if (!this.begun) {
      this.begun = true; // from here on the caller must end the transaction (COMMIT or ROLLBACK)
      if (packets.length === 0) await execute(this.manager, 'START TRANSACTION', []);
      else packets[0].unshift({ sql: 'START TRANSACTION', values: [] });
    }
    for (const packet of packets) {
      const results = this.dialect === 'mariadb' ? await this.sendPacket(packet) : await this.runOneByOne(packet, this.manager);
      for (let i = 0; i < packet.length; i += 1) {
        const { check, onRows } = packet[i];
        if (onRows) onRows(results[i].rows);
        const failure = check?.(results[i].affected);
        if (failure) throw failure;
      }
    }
    return packets.length;
  }

  /** Queues one statement, starting a new packet when this one would pass PACKET_BYTES. */
  private push(write: Write): void {
    if (this.pending.length > 0 && this.bytes + write.sql.length > PACKET_BYTES) this.cut();
    this.pending.push(write);
    this.bytes += write.sql.length;
  }

  private cut(): void {
    if (this.pending.length === 0) return;
    this.packets.push(this.pending);
    this.pending = [];
    this.bytes = 0;
  }

  /** One round trip: the statements joined with `;`, mysql2 answering one result per statement. */
  private async sendPacket(packet: Write[]): Promise<Outcome[]> {
    const runner = this.manager!.queryRunner;
    if (!runner) throw new Error('WriteSet.run needs a transaction (a manager with its query runner)');
    // TypeORM's MysqlQueryRunner.connect() hands back the transaction's pooled mysql2 connection
    // (callback API).
    const connection = await (runner as unknown as { connect(): Promise<MysqlConnection> }).connect();
    const sql = packet.length === 1 ? packet[0].sql : packet.map((w) => w.sql).join(';\n');
    const values = packet.length === 1 ? packet[0].values : packet.flatMap((w) => w.values);
    const result = await new Promise<unknown>((resolve, reject) => {
      connection.query({ sql, values }, (err, rows) => (err ? reject(err) : resolve(rows)));
    });
    // One result per statement: rows (an array) for a SELECT, a ResultSetHeader for the others.
    const results = (packet.length === 1 ? [result] : result) as unknown[];
    return results.map((r) => (Array.isArray(r) ? { affected: 0, rows: r as Array<Record<string, unknown>> } : { affected: (r as { affectedRows?: number } | null)?.affectedRows ?? 0, rows: [] }));
  }

  private async runOneByOne(packet: Write[], manager: EntityManager): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    for (const w of packet) {
      if (w.onRows) outcomes.push({ affected: 0, rows: (await manager.query(w.sql, [...w.values])) as Array<Record<string, unknown>> });
      else outcomes.push({ affected: await execute(manager, w.sql, [...w.values]), rows: [] });
    }
    return outcomes;
  }
}

/**
 * Thrown by {@link WriteSet.begin} on a collecting write set: the writes asked for a statement to
 * run at once, which a group commit cannot do; they must commit in a transaction of their own.
 */
export class ImmediateWriteError extends Error {
  constructor() {
    super('these writes need a transaction of their own (a write at once)');
    this.name = 'ImmediateWriteError';
  }
}

interface Write {
  sql: string;
  values: readonly unknown[];
  check?: AffectedCheck;
  onRows?: (rows: Array<Record<string, unknown>>) => void;
}

/** What one statement did: rows changed, and rows read (a SELECT). */
interface Outcome {
  affected: number;
  rows: Array<Record<string, unknown>>;
}

/** The part of mysql2's callback connection used here. */
interface MysqlConnection {
  query(options: { sql: string; values: readonly unknown[] }, callback: (err: Error | null, rows: unknown) => void): void;
}
