import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Accounts, roles and security (issue 6): an account's status (suspension), its failed-login
 * counter and lock, its default shipping address, and seller applications. Portable (TypeORM's
 * Table API), so it runs on MariaDB and SQLite alike; times are BIGINT epoch milliseconds.
 */
export class AccountSecurity1763700000003 implements MigrationInterface {
  name = 'AccountSecurity1763700000003';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumns('users', [
      new TableColumn({ name: 'status', type: 'varchar', length: '16', default: "'active'" }),
      new TableColumn({ name: 'suspended_at', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'failed_logins', type: 'int', default: 0 }),
      new TableColumn({ name: 'last_failed_login_at', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'locked_until', type: 'bigint', isNullable: true }),
      new TableColumn({ name: 'default_shipping_address', type: 'text', isNullable: true }),
    ]);
    await q.createIndex('users', new TableIndex({ name: 'ix_users_status', columnNames: ['status'] }));
    await q.createIndex('users', new TableIndex({ name: 'ix_users_created', columnNames: ['created_at', 'id'] }));
    await q.createTable(
      new Table({
        name: 'seller_applications',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '36' },
          { name: 'business_name', type: 'varchar', length: '200' },
          { name: 'registration_number', type: 'varchar', length: '64' },
          { name: 'contact_name', type: 'varchar', length: '100' },
          { name: 'contact_email', type: 'varchar', length: '254' },
          { name: 'contact_phone', type: 'varchar', length: '32' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'decision_reason', type: 'varchar', length: '500', isNullable: true },
          { name: 'decided_by', type: 'varchar', length: '36', isNullable: true },
          { name: 'decided_at', type: 'bigint', isNullable: true },
          { name: 'created_at', type: 'bigint' },
          { name: 'updated_at', type: 'bigint' },
        ],
        indices: [
          new TableIndex({ name: 'uq_seller_applications_user', columnNames: ['user_id'], isUnique: true }),
          new TableIndex({ name: 'ix_seller_applications_status', columnNames: ['status', 'updated_at'] }),
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('seller_applications', true);
    await q.dropIndex('users', 'ix_users_created');
    await q.dropIndex('users', 'ix_users_status');
    for (const column of ['default_shipping_address', 'locked_until', 'last_failed_login_at', 'failed_logins', 'suspended_at', 'status']) await q.dropColumn('users', column);
  }
}
