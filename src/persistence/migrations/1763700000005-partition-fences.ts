import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Cluster mode's fencing tokens: one row per partition of each actor kind, raised by one each time
 * a node takes the partition's lease. Kept in the database (not Redis) so tokens only ever rise,
 * even when Redis restarts empty.
 */
export class PartitionFences1763700000005 implements MigrationInterface {
  name = 'PartitionFences1763700000005';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'partition_fences',
        columns: [
          { name: 'kind', type: 'varchar', length: '32', isPrimary: true },
          { name: 'part', type: 'int', isPrimary: true },
          { name: 'token', type: 'bigint' },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('partition_fences', true);
  }
}
