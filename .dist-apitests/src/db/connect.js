import fs from 'node:fs';
import path from 'node:path';
import { Kysely, SqliteDialect } from 'kysely';
import SQLite from 'better-sqlite3';
/** Parses `[database] connection` (SQLAlchemy-style URLs, as in glance-api.conf). */
export function parseConnectionUrl(url) {
    const m = /^sqlite(?:\+pysqlite)?:\/\/\/(.*)$/.exec(url);
    if (m) {
        const file = m[1] ?? '';
        if (file === '' || file === ':memory:')
            return { kind: 'sqlite', file: ':memory:' };
        // sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy reads them.
        return { kind: 'sqlite', file: path.resolve(file) };
    }
    const scheme = url.split(':')[0] ?? '';
    throw new Error(`[database] connection: unsupported database URL scheme '${scheme}' (supported: sqlite:///PATH)`);
}
export function openDatabase(connection) {
    const target = parseConnectionUrl(connection);
    if (target.file !== ':memory:')
        fs.mkdirSync(path.dirname(target.file), { recursive: true });
    const sqlite = new SQLite(target.file);
    sqlite.pragma('journal_mode = WAL');
    // FULL: a status change the API acknowledged survives power loss.
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 10000');
    return new Kysely({ dialect: new SqliteDialect({ database: sqlite }) });
}
//# sourceMappingURL=connect.js.map