import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Checkout and payment (issue 5): a payment's admin flag and refund, an order's own refund, and
 * the webhook events received from the gateway (one row per event id, so a duplicate delivery is
 * stored once). Portable (TypeORM's Table API): MariaDB and SQLite alike; times are BIGINT epoch ms.
 */
export class Payments1763700000004 implements MigrationInterface {
  name = 'Payments1763700000004';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('payments', [
      new TableColumn({ name: 'flag', type: 'varchar', length: '32', isNullable: true }),
      new TableColumn({ name: 'refund_reason', type: 'varchar', length: '32', isNullable: true }),
      new TableColumn({ name: 'refunded_at', type: 'bigint', isNullable: true }),
    ]);
    await q.createIndex('payments', new TableIndex({ name: 'ix_payments_status_created', columnNames: ['status', 'created_at'] }));
    await q.addColumns('orders', [
      new TableColumn({ name: 'refund_status', type: 'varchar', length: '16', isNullable: true }),
      new TableColumn({ name: 'refund_reason', type: 'varchar', length: '32', isNullable: true }),
      new TableColumn({ name: 'refund_payment_id', type: 'varchar', length: '64', isNullable: true }),
      new TableColumn({ name: 'refund_amount', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'refunded_at', type: 'bigint', isNullable: true }),
    ]);
    await q.createTable(
      new Table({
        name: 'payment_events',
        columns: [
          { name: 'id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'type', type: 'varchar', length: '32' },
          { name: 'payment_id', type: 'varchar', length: '64' },
          { name: 'order_id', type: 'varchar', length: '36' },
          { name: 'amount', type: 'bigint' },
          { name: 'currency', type: 'varchar', length: '3' },
          { name: 'occurred_at', type: 'bigint' },
          { name: 'received_at', type: 'bigint' },
          { name: 'processed_at', type: 'bigint', isNullable: true },
          { name: 'outcome', type: 'varchar', length: '300', isNullable: true },
          { name: 'source', type: 'varchar', length: '16' },
        ],
        indices: [
          new TableIndex({ name: 'ix_payment_events_pending', columnNames: ['processed_at', 'received_at'] }),
          new TableIndex({ name: 'ix_payment_events_payment', columnNames: ['payment_id'] }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('payment_events', true);
    for (const column of ['refunded_at', 'refund_amount', 'refund_payment_id', 'refund_reason', 'refund_status']) await q.dropColumn('orders', column);
    await q.dropIndex('payments', 'ix_payments_status_created');
    for (const column of ['refunded_at', 'refund_reason', 'flag']) await q.dropColumn('payments', column);
  }
}
