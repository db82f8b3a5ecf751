import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The waiting room: one row per shopper and deal (`tickets`) and the room's counters with the deal
 * (`deals.queue_state`, JSON: seed of the pre-queue shuffle, last and serving seq, skipped count).
 */
export class WaitingRoom1763700000002 implements MigrationInterface {
  name = 'WaitingRoom1763700000002';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('deals', new TableColumn({ name: 'queue_state', type: 'text', isNullable: true }));
    await q.createTable(
      new Table({
        name: 'tickets',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'deal_id', type: 'varchar', length: '36' },
          { name: 'user_id', type: 'varchar', length: '36' },
          { name: 'arrival', type: 'int' },
          { name: 'seq', type: 'int', isNullable: true },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'joined_at', type: 'bigint' },
          { name: 'admitted_at', type: 'bigint', isNullable: true },
          { name: 'admission_expires_at', type: 'bigint', isNullable: true },
          { name: 'ended_at', type: 'bigint', isNullable: true },
          { name: 'end_reason', type: 'varchar', length: '16', isNullable: true },
          { name: 'updated_at', type: 'bigint' },
        ],
        indices: [
          new TableIndex({ name: 'uq_tickets_deal_user', columnNames: ['deal_id', 'user_id'], isUnique: true }),
          new TableIndex({ name: 'ix_tickets_deal_seq', columnNames: ['deal_id', 'seq'] }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('tickets', true);
    await q.dropColumn('deals', 'queue_state');
  }
}
