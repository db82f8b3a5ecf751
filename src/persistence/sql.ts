import type { EntityManager } from 'typeorm';

/**
 * Runs one statement on the manager's connection (inside its transaction) and returns the number
 * of rows it changed. For the runtime's hot path, where TypeORM's query builder costs more CPU than
 * the statement: the SQL is written once with `?` placeholders, which both mysql2 and
 * better-sqlite3 take.
 */
export async function execute(manager: EntityManager, sql: string, params: unknown[]): Promise<number> {
  const runner = manager.queryRunner;
  if (!runner) throw new Error('execute() needs a transactional EntityManager');
  const result = await runner.query(sql, params, true);
  return result.affected ?? 0;
}

/** `(?, ?, …), (?, ?, …)` for `rows` rows of `columns` values each. */
export const placeholders = (rows: number, columns: number): string => {
  const row = `(${new Array(columns).fill('?').join(', ')})`;
  return new Array(rows).fill(row).join(', ');
};
