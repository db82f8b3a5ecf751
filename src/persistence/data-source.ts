import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import type { Config } from '../config';
import { ActorInboxEntity, ActorOutboxEntity, ActorReminderEntity, ActorStateEntity } from './entities/actor.entity';
import { DealEntity } from './entities/deal.entity';
import { HoldEntity } from './entities/hold.entity';
import { OrderEntity, OrderItemEntity, PaymentEntity, PaymentEventEntity } from './entities/order.entity';
import { RefreshTokenEntity, UserEntity } from './entities/user.entity';
import { InitialSchema1763700000000 } from './migrations/1763700000000-initial-schema';
import { IdempotencyKeys1763700000001 } from './migrations/1763700000001-idempotency-keys';
import { WaitingRoom1763700000002 } from './migrations/1763700000002-waiting-room';
import { PartitionFences1763700000005 } from './migrations/1763700000005-partition-fences';
import { TicketEntity } from './entities/ticket.entity';
import { IdempotencyKeyEntity } from './entities/idempotency-key.entity';
import { SellerApplicationEntity } from './entities/seller-application.entity';
import { AccountSecurity1763700000003 } from './migrations/1763700000003-account-security';
import { Payments1763700000004 } from './migrations/1763700000004-payments';

export const entities = [
  UserEntity, RefreshTokenEntity, DealEntity, HoldEntity, OrderEntity, OrderItemEntity, PaymentEntity,
  ActorStateEntity, ActorReminderEntity, ActorInboxEntity, ActorOutboxEntity, IdempotencyKeyEntity,
  SellerApplicationEntity, TicketEntity, PaymentEventEntity,
];
export const migrations = [InitialSchema1763700000000, IdempotencyKeys1763700000001, WaitingRoom1763700000002, AccountSecurity1763700000003, Payments1763700000004, PartitionFences1763700000005];

/**
 * Builds the one DataSource of a process: MariaDB through mysql2 when `config.database.type` is
 * `mariadb`, SQLite through better-sqlite3 (WAL journal) otherwise. Schema changes come only from
 * migrations; `synchronize` stays off.
 */
export function createDataSource(database: Config['database'], poolSize = 20): DataSource {
  // Query errors reach the caller as exceptions and are logged there, with the request or actor.
  const common = { entities, migrations, synchronize: false as const, logging: false };
  let options: DataSourceOptions;
  if (database.type === 'mariadb') {
    options = {
      ...common,
      type: 'mariadb',
      url: database.url,
      timezone: 'Z',
      charset: 'utf8mb4_unicode_ci',
      poolSize,
      // multipleStatements: an actor batch's writes go in one packet (WriteSet); every value is a
      // placeholder escaped by mysql2, never text spliced into SQL. trace: false spares mysql2 an
      // Error.captureStackTrace per query (about 3 % of a busy node's CPU); callers log their
      // own context with a failed query.
      extra: { connectionLimit: poolSize, enableKeepAlive: true, connectTimeout: 5000, multipleStatements: true, trace: false },
    };
  } else {
    mkdirSync(dirname(database.path), { recursive: true });
    options = {
      ...common,
      type: 'better-sqlite3',
      database: database.path,
      prepareDatabase: (db: { pragma(sql: string): unknown }) => {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = FULL');
        db.pragma('busy_timeout = 5000');
      },
    };
  }
  return new DataSource(options);
}

/** Opens the DataSource and applies pending migrations. */
export async function openDatabase(database: Config['database'], poolSize?: number): Promise<DataSource> {
  const dataSource = createDataSource(database, poolSize);
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  return dataSource;
}
