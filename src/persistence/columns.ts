import type { ValueTransformer } from 'typeorm';

/**
 * MariaDB returns BIGINT as a string through mysql2 (TypeORM sets `bigNumberStrings`); every
 * BIGINT in Dealrush is an epoch-millisecond time, a money amount in minor units or a counter,
 * all far below 2^53, so it is read back as a number.
 */
export const bigintNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null || value === undefined ? value : Number(value)),
};

/** A JSON document kept in a TEXT column (portable between MariaDB and SQLite). */
export const jsonText: ValueTransformer = {
  to: (value: unknown) => (value === undefined ? undefined : JSON.stringify(value)),
  from: (value: string | null) => (value === null || value === undefined ? value : JSON.parse(value)),
};
