import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/** Stored first responses of requests sent with an `Idempotency-Key` (CONTRACT.md, Conventions). */
export class IdempotencyKeys1763700000001 implements MigrationInterface {
  name = 'IdempotencyKeys1763700000001';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'idempotency_keys',
        columns: [
          { name: 'user_id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'key_hash', type: 'varchar', length: '64', isPrimary: true },
          { name: 'route', type: 'varchar', length: '300' },
          { name: 'body_hash', type: 'varchar', length: '64' },
          { name: 'nonce', type: 'varchar', length: '16' },
          { name: 'status_code', type: 'int', isNullable: true },
          { name: 'content_type', type: 'varchar', length: '100', isNullable: true },
          { name: 'response', type: 'text', isNullable: true },
          { name: 'created_at', type: 'bigint' },
        ],
        indices: [new TableIndex({ name: 'ix_idempotency_keys_created', columnNames: ['created_at'] })],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('idempotency_keys', true);
  }
}
