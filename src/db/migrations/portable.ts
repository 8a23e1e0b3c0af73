import { sql, type ColumnDefinitionBuilder, type CreateTableBuilder, type Kysely } from 'kysely';
import { databaseKind } from '../connect.js';

/**
 * Helpers so one migration means the same on SQLite, PostgreSQL and MariaDB: strings compare and
 * sort byte-wise everywhere (SQLite's BINARY, PostgreSQL's "C", MariaDB's utf8mb4_bin), so
 * filters, sorting and paging give the same answers on every database.
 */
export function portable(db: Kysely<unknown>) {
  const kind = databaseKind(db);
  return {
    /** For every text column: byte-wise collation. */
    text: (col: ColumnDefinitionBuilder): ColumnDefinitionBuilder => (kind === 'postgresql' ? col.modifyFront(sql`collate "C"`) : col),
    /** Unbounded text: TEXT on SQLite and PostgreSQL; LONGTEXT on MariaDB, whose TEXT stops at 64 KiB. */
    longText: kind === 'mysql' ? sql`longtext` : sql`text`,
    /** For every table: InnoDB, utf8mb4 and binary collation on MariaDB/MySQL. */
    table: <T extends string, C extends string>(t: CreateTableBuilder<T, C>): CreateTableBuilder<T, C> =>
      kind === 'mysql' ? t.modifyEnd(sql`engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`) : t,
  };
}
