import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';

/** Where the integration tests find MariaDB (the machine's service; override with TEST_MARIADB_URL). */
export const MARIADB_URL = process.env.TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306';

/**
 * A fresh, empty MariaDB database for one test file, dropped by `drop()`.
 * When MariaDB does not answer this throws, so the test fails (it never skips: CI must see it).
 */
export async function createTestDatabase(prefix = 't'): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `dealrush_${prefix}_${randomBytes(4).toString('hex')}`;
  let admin;
  try {
    admin = await createConnection({ uri: MARIADB_URL, connectTimeout: 3000 });
  } catch (error) {
    throw new Error(`MariaDB is not reachable at ${MARIADB_URL} (${(error as Error).message}); integration tests need it (start it, see README)`);
  }
  await admin.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  return {
    name,
    url: `${MARIADB_URL}/${name}`,
    async drop() {
      const conn = await createConnection({ uri: MARIADB_URL });
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    },
  };
}

/** Runs one query on a test database and returns its rows. */
export async function query<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const conn = await createConnection({ uri: url, supportBigNumbers: true, bigNumberStrings: false });
  try {
    const [rows] = await conn.query(sql, params);
    return rows as T[];
  } finally {
    await conn.end();
  }
}
