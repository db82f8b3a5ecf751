import { Table, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';

/**
 * The first schema: accounts, deals, holds, orders, payments and the actor runtime's tables.
 * Written with TypeORM's portable Table API so the same migration runs on MariaDB and SQLite.
 * Times are BIGINT epoch milliseconds (UTC by definition); money is BIGINT minor units.
 */
const id = (name = 'id', length = 36): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isPrimary: true });
const str = (name: string, length: number, isNullable = false): TableColumnOptions => ({ name, type: 'varchar', length: String(length), isNullable });
const big = (name: string, isNullable = false): TableColumnOptions => ({ name, type: 'bigint', isNullable });
const int = (name: string, fallback?: number): TableColumnOptions => ({ name, type: 'int', ...(fallback === undefined ? {} : { default: fallback }) });
const text = (name: string, isNullable = false): TableColumnOptions => ({ name, type: 'text', isNullable });

export class InitialSchema1763700000000 implements MigrationInterface {
  name = 'InitialSchema1763700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: 'users',
        columns: [id(), str('email', 254), str('password_hash', 255), str('name', 100), str('roles', 64), big('created_at')],
        indices: [new TableIndex({ name: 'uq_users_email', columnNames: ['email'], isUnique: true })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'refresh_tokens',
        columns: [id(), str('user_id', 36), str('family_id', 36), str('token_hash', 64), big('expires_at'), big('rotated_at', true), big('revoked_at', true), big('created_at')],
        indices: [
          new TableIndex({ name: 'ix_refresh_tokens_user', columnNames: ['user_id'] }),
          new TableIndex({ name: 'ix_refresh_tokens_family', columnNames: ['family_id'] }),
          new TableIndex({ name: 'uq_refresh_tokens_hash', columnNames: ['token_hash'], isUnique: true }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'deals',
        columns: [
          id(), str('seller_id', 36), str('title', 200), text('description'), str('category', 50), str('image_url', 500, true),
          big('price'), big('original_price'), str('currency', 3),
          int('total_stock'), int('remaining_stock'), int('held_units'), int('sold_units'), int('returned_units', 0), int('per_user_limit'),
          big('starts_at'), big('ends_at'), str('status', 16), text('waiting_room'), big('seq'), big('created_at'), big('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'ix_deals_seller', columnNames: ['seller_id'] }),
          new TableIndex({ name: 'ix_deals_category', columnNames: ['category'] }),
          new TableIndex({ name: 'ix_deals_status_starts', columnNames: ['status', 'starts_at'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'holds',
        columns: [
          id(), str('deal_id', 36), str('user_id', 36), int('quantity'), big('unit_price'), str('currency', 3), str('status', 16),
          str('order_id', 36, true), big('expires_at'), big('created_at'), big('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'ix_holds_deal_status', columnNames: ['deal_id', 'status'] }),
          new TableIndex({ name: 'ix_holds_user_status', columnNames: ['user_id', 'status'] }),
          new TableIndex({ name: 'ix_holds_order', columnNames: ['order_id'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'orders',
        columns: [
          id(), str('user_id', 36), str('status', 20), big('total'), str('currency', 3), text('shipping_address'), str('payment_id', 64, true),
          big('created_at'), big('expires_at'), big('paid_at', true), big('updated_at'),
        ],
        indices: [
          new TableIndex({ name: 'ix_orders_user_created', columnNames: ['user_id', 'created_at'] }),
          new TableIndex({ name: 'ix_orders_status', columnNames: ['status'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'order_items',
        columns: [id('id', 48), str('order_id', 36), str('deal_id', 36), str('hold_id', 36), int('quantity'), big('unit_price')],
        indices: [
          new TableIndex({ name: 'ix_order_items_order', columnNames: ['order_id'] }),
          new TableIndex({ name: 'ix_order_items_deal', columnNames: ['deal_id'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'payments',
        columns: [id('id', 64), str('order_id', 36), str('provider', 32), big('amount'), str('currency', 3), str('status', 16), big('created_at'), big('updated_at')],
        indices: [new TableIndex({ name: 'ix_payments_order', columnNames: ['order_id'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'actor_state',
        columns: [id('kind', 16), id('actor_id', 64), big('fence'), big('commits'), big('updated_at')],
      }),
    );
    await q.createTable(
      new Table({
        name: 'actor_reminders',
        columns: [id('kind', 16), id('actor_id', 64), id('name', 64), big('due_at')],
        indices: [new TableIndex({ name: 'ix_actor_reminders_due', columnNames: ['due_at'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'actor_inbox',
        columns: [id('kind', 16), id('actor_id', 64), id('message_id', 64), text('reply', true), big('handled_at')],
        indices: [new TableIndex({ name: 'ix_actor_inbox_handled', columnNames: ['handled_at'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'actor_outbox',
        columns: [id('id', 64), str('from_kind', 16), str('from_id', 64), str('to_kind', 16), str('to_id', 64), text('message'), big('created_at')],
        indices: [new TableIndex({ name: 'ix_actor_outbox_from', columnNames: ['from_kind', 'from_id'] })],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['actor_outbox', 'actor_inbox', 'actor_reminders', 'actor_state', 'payments', 'order_items', 'orders', 'holds', 'deals', 'refresh_tokens', 'users']) {
      await q.dropTable(table, true);
    }
  }
}
