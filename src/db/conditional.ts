import { getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';

// D1 has no interactive transactions, but a batch runs its statements in order, atomically. SQLite's changes()
// is the row count of the statement just before, so "insert this only if the guarded update above changed a
// row" can live in the same batch: concurrent requests racing on one token cannot both write their follow-ups.

export function insertIfPreviousChanged(
  db: DrizzleD1Database,
  table: SQLiteTable,
  values: Record<string, unknown>,
) {
  return insertWhere(db, table, values, sql`changes() = 1`);
}

/** Inserts the row only if `condition` holds when the statement runs (in a batch: atomically with the rest). */
export function insertWhere(
  db: DrizzleD1Database,
  table: SQLiteTable,
  values: Record<string, unknown>,
  condition: SQL,
) {
  // insert … select names every column of the table in order, so every column gets a value (or null).
  const params = sql.join(
    Object.keys(getTableColumns(table)).map((key) => sql`${values[key] ?? null}`),
    sql`, `,
  );
  return db.insert(table).select(sql`select ${params} where ${condition}`);
}

/** Rows changed by a statement in a D1 batch result. */
export function changedRows(result: unknown): number {
  return (result as { meta?: { changes?: number } }).meta?.changes ?? 0;
}
