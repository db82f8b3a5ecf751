import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from './data-source';
import { Database } from './database';
import { WriteSet } from './write-set';
import { createTestDatabase } from '../../test/support/services';

/**
 * The write set of an actor commit, on real MariaDB (one multi-statement packet) and on SQLite
 * (one by one): statements run in order, a failed check or a refused statement rolls the whole
 * transaction back, and large sets split into several packets without losing a write.
 */
describe.each(['mariadb', 'sqlite'] as const)('WriteSet (%s)', (dialect) => {
  let db: Database;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    if (dialect === 'mariadb') {
      const testDb = await createTestDatabase('writes');
      db = new Database(await openDatabase({ type: 'mariadb', url: testDb.url }, 4));
      cleanup = async () => {
        await db.dataSource.destroy();
        await testDb.drop();
      };
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'dealrush-writes-'));
      db = new Database(await openDatabase({ type: 'sqlite', path: join(dir, 'db.sqlite') }));
      cleanup = async () => {
        await db.dataSource.destroy();
        rmSync(dir, { recursive: true, force: true });
      };
    }
    await db.autocommit((m) => m.query('CREATE TABLE ws_items (id VARCHAR(20) PRIMARY KEY, n INT NOT NULL)'));
  });
  afterAll(async () => cleanup?.());
  beforeEach(async () => {
    await db.autocommit((m) => m.query('DELETE FROM ws_items'));
  });

  const rows = async (): Promise<Array<{ id: string; n: number }>> =>
    ((await db.read((m) => m.query('SELECT id, n FROM ws_items ORDER BY id'))) as Array<{ id: string; n: number | string }>).map((r) => ({ id: r.id, n: Number(r.n) }));

  it('runs the statements in order and passes each its own rows-changed count', async () => {
    const seen: number[] = [];
    await db.transaction(async (manager) => {
      const writes = new WriteSet(manager, db.dialect);
      writes.add('INSERT INTO ws_items (id, n) VALUES (?, ?), (?, ?)', ['a', 1, 'b', 2], (n) => (seen.push(n), null));
      writes.add('UPDATE ws_items SET n = n + ? WHERE id = ?', [10, 'a'], (n) => (seen.push(n), null));
      writes.add('UPDATE ws_items SET n = n * 2 WHERE n > ?', [5], (n) => (seen.push(n), null));
      writes.add('DELETE FROM ws_items WHERE id = ?', ['missing'], (n) => (seen.push(n), null));
      expect(writes.size).toBe(4);
      expect(await writes.run()).toBe(1); // one round trip for the four

      expect(writes.size).toBe(0);
    });
    expect(seen).toEqual([2, 1, 1, 0]);
    expect(await rows()).toEqual([
      { id: 'a', n: 22 },
      { id: 'b', n: 2 },
    ]);
  });

  it('a failed check throws its error and nothing of the transaction commits', async () => {
    await db.autocommit((m) => m.query("INSERT INTO ws_items (id, n) VALUES ('g', 5)"));
    const guard = new Error('guard: expected n = 4');
    await expect(
      db.transaction(async (manager) => {
        const writes = new WriteSet(manager, db.dialect);
        writes.add('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['x', 1]);
        writes.add('UPDATE ws_items SET n = n - 1 WHERE id = ? AND n = ?', ['g', 4], (n) => (n === 1 ? null : guard));
        writes.add('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['y', 1]);
        await writes.run();
      }),
    ).rejects.toBe(guard);
    expect(await rows()).toEqual([{ id: 'g', n: 5 }]);
  });

  it('a statement the database refuses throws its error (with its code) and rolls everything back', async () => {
    await db.autocommit((m) => m.query("INSERT INTO ws_items (id, n) VALUES ('dup', 1)"));
    const failure = await db
      .transaction(async (manager) => {
        const writes = new WriteSet(manager, db.dialect);
        writes.add('UPDATE ws_items SET n = 100 WHERE id = ?', ['dup']);
        writes.add('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['dup', 2]);
        writes.add('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['after', 3]);
        await writes.run();
      })
      .then(
        () => null,
        (error: { code?: string; driverError?: { code?: string } }) => error,
      );
    const code = failure?.driverError?.code ?? failure?.code ?? '';
    expect(code).toMatch(dialect === 'mariadb' ? /^ER_DUP_ENTRY$/ : /^SQLITE_CONSTRAINT/);
    expect(await rows()).toEqual([{ id: 'dup', n: 1 }]);
  });

  it('writeTransaction: the writes commit together, a failed check rolls them all back, and begin() puts a direct write in the same transaction', async () => {
    await db.writeTransaction(async (writes) => {
      const manager = await writes.begin();
      await manager.query('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['direct', 1]);
      writes.add('UPDATE ws_items SET n = n + 1 WHERE id = ?', ['direct'], (n) => (n === 1 ? null : new Error('direct row not seen')));
      writes.add('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['packet', 7]);
      await writes.run();
    });
    expect(await rows()).toEqual([
      { id: 'direct', n: 2 },
      { id: 'packet', n: 7 },
    ]);

    const refused = new Error('refused by its check');
    await expect(
      db.writeTransaction(async (writes) => {
        const manager = await writes.begin();
        await manager.query('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['direct2', 1]);
        writes.add('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['packet2', 1]);
        writes.add('UPDATE ws_items SET n = 0 WHERE id = ?', ['nobody'], (n) => (n === 1 ? null : refused));
        await writes.run();
      }),
    ).rejects.toBe(refused);
    // Lazily opened (START TRANSACTION in the packet itself): rolled back all the same.
    await expect(
      db.writeTransaction(async (writes) => {
        writes.add('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['packet3', 1]);
        writes.add('UPDATE ws_items SET n = 0 WHERE id = ?', ['nobody'], (n) => (n === 1 ? null : refused));
        await writes.run();
      }),
    ).rejects.toBe(refused);
    await expect(
      db.writeTransaction(async (writes) => {
        writes.add('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['packet4', 1]);
        writes.add('INSERT INTO ws_items (id, n) VALUES (?, ?)', ['packet', 1]); // duplicate key
        await writes.run();
      }),
    ).rejects.toBeDefined();
    expect(await rows()).toEqual([
      { id: 'direct', n: 2 },
      { id: 'packet', n: 7 },
    ]);
  });

  it('splits a large set into several packets and keeps every write and check', async () => {
    // About 3 MiB of SQL text: at least three packets of at most 1 MiB each.
    const filler = `/* ${'x'.repeat(30_000)} */`;
    let checked = 0;
    await db.transaction(async (manager) => {
      const writes = new WriteSet(manager, db.dialect);
      for (let i = 0; i < 100; i += 1) writes.add(`INSERT INTO ws_items (id, n) VALUES (?, ?) ${filler}`, [`k${String(i).padStart(3, '0')}`, i], (n) => (n === 1 ? ((checked += 1), null) : new Error('not inserted')));
      expect(await writes.run()).toBeGreaterThanOrEqual(3);
    });
    expect(checked).toBe(100);
    const stored = await rows();
    expect(stored).toHaveLength(100);
    expect(stored.reduce((sum, r) => sum + r.n, 0)).toBe((99 * 100) / 2);
  });
});
