import { openDatabase } from './data-source';
import { Database } from './database';
import { GroupCommit } from './group-commit';
import type { WriteSet } from './write-set';
import { createTestDatabase } from '../../test/support/services';

/**
 * Group commit across actors on real MariaDB: commits that queue up while one is in flight share
 * one transaction; a member whose check fails, whose statement the database refuses, or that
 * needs a write at once is committed on its own and fails alone, never taking the others with it.
 */
describe('GroupCommit (MariaDB)', () => {
  let db: Database;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const testDb = await createTestDatabase('groups');
    db = new Database(await openDatabase({ type: 'mariadb', url: testDb.url }, 4));
    drop = testDb.drop;
    await db.autocommit((m) => m.query('CREATE TABLE gc_items (id VARCHAR(20) PRIMARY KEY, n INT NOT NULL)'));
  });
  afterAll(async () => {
    await db?.dataSource.destroy();
    await drop?.();
  });
  beforeEach(async () => {
    await db.autocommit((m) => m.query('DELETE FROM gc_items'));
  });

  const ids = async (): Promise<string[]> => ((await db.read((m) => m.query('SELECT id FROM gc_items ORDER BY id'))) as Array<{ id: string }>).map((r) => r.id);
  const insert = (id: string) => (writes: WriteSet) => {
    writes.add('INSERT INTO gc_items (id, n) VALUES (?, ?)', [id, 1]);
    return id;
  };

  it('commits the members queued behind a commit in flight together, in one transaction, each getting its own result', async () => {
    const group = new GroupCommit(db, { concurrency: 1 });
    const first = group.commit(insert('a00'));
    // Queued while the first is on its way: one group for the ten.
    const rest = Array.from({ length: 10 }, (_, i) => group.commit(insert(`b${String(i).padStart(2, '0')}`)));
    expect(await first).toBe('a00');
    expect(await Promise.all(rest)).toEqual(Array.from({ length: 10 }, (_, i) => `b${String(i).padStart(2, '0')}`));
    expect(group.stats).toEqual({ groups: 1, grouped: 10, alone: 1, retried: 0 });
    expect(await ids()).toHaveLength(11);
  });

  it('rolls a group back when one member’s check fails, then commits the others alone; the failing one gets its own error', async () => {
    const group = new GroupCommit(db, { concurrency: 1 });
    const fenced = new Error('fenced: token 3 is not the newest');
    let fills = 0;
    const first = group.commit(insert('a00'));
    const good = [group.commit(insert('c01')), group.commit(insert('c02'))];
    const bad = group.commit((writes) => {
      fills += 1;
      writes.add('INSERT INTO gc_items (id, n) VALUES (?, ?)', ['c03', 1]);
      writes.add('UPDATE gc_items SET n = n + 1 WHERE id = ?', ['nobody'], (affected) => (affected === 1 ? null : fenced));
    });
    await first;
    expect(await Promise.all(good)).toEqual(['c01', 'c02']);
    await expect(bad).rejects.toBe(fenced);
    expect(fills).toBe(2); // in the group, then alone
    expect(group.stats).toMatchObject({ groups: 0, retried: 1, alone: 4 });
    // Nothing of the failed member, and the others exactly once.
    expect(await ids()).toEqual(['a00', 'c01', 'c02']);
  });

  it('isolates a member whose statement the database refuses (a duplicate key)', async () => {
    await db.autocommit((m) => m.query("INSERT INTO gc_items (id, n) VALUES ('taken', 1)"));
    const group = new GroupCommit(db, { concurrency: 1 });
    const first = group.commit(insert('a00'));
    const queued = [group.commit(insert('d01')), group.commit(insert('taken')), group.commit(insert('d02'))];
    await first;
    const [d01, taken, d02] = await Promise.allSettled(queued);
    expect(d01).toEqual({ status: 'fulfilled', value: 'd01' });
    expect(d02).toEqual({ status: 'fulfilled', value: 'd02' });
    expect(taken.status).toBe('rejected');
    expect((taken as PromiseRejectedResult).reason).toMatchObject({ code: 'ER_DUP_ENTRY' });
    expect(await ids()).toEqual(['a00', 'd01', 'd02', 'taken']);
  });

  it('commits a member that needs a write at once in a transaction of its own, and groups the rest', async () => {
    const group = new GroupCommit(db, { concurrency: 1 });
    const first = group.commit(insert('a00'));
    const immediate = group.commit(async (writes) => {
      const manager = await writes.begin(); // throws in the group; works alone
      await manager.query('INSERT INTO gc_items (id, n) VALUES (?, ?)', ['e00', 1]);
      writes.add('UPDATE gc_items SET n = n + 1 WHERE id = ?', ['e00'], (affected) => (affected === 1 ? null : new Error('e00 missing')));
      return 'e00';
    });
    const others = [group.commit(insert('e01')), group.commit(insert('e02'))];
    await first;
    expect(await immediate).toBe('e00');
    expect(await Promise.all(others)).toEqual(['e01', 'e02']);
    expect(group.stats).toEqual({ groups: 1, grouped: 2, alone: 2, retried: 0 });
    expect(await db.read((m) => m.query("SELECT n FROM gc_items WHERE id = 'e00'"))).toEqual([{ n: 2 }]);
  });

  it('rejects a member whose fill throws (nothing of it runs) and commits the others', async () => {
    const group = new GroupCommit(db, { concurrency: 1 });
    const first = group.commit(insert('a00'));
    const broken = group.commit(() => {
      throw new TypeError('bad change');
    });
    const fine = group.commit(insert('f01'));
    await first;
    await expect(broken).rejects.toThrow('bad change');
    expect(await fine).toBe('f01');
    expect(await ids()).toEqual(['a00', 'f01']);
  });
});
