import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, databaseUrl, loadConfig } from '../config/options.js';
import { openDatabase, redactUrl } from '../db/connect.js';
import { SqlImageRepository } from '../db/image-repository.js';
import { migrateToLatest, schemaStatus } from '../db/migrate.js';
import { unloadMetadefs } from '../db/metadef-catalogue-io.js';
import { exportMetadefs, loadMetadefs, MetadefLoadOptionsError } from './metadef-files-io.js';

export const MANAGE_USAGE = `Usage: ocellus manage [--config FILE] [--data-dir DIR] db <action>

Actions:
  db sync | db upgrade     apply every pending migration (safe to run from several nodes at once)
  db version               print the schema version of the database
  db check                 exit 0 if the schema is current, 3 if migrations are pending
  db purge --age-in-days N [--max-rows M]
                           hard-delete images soft-deleted more than N days ago (default 30),
                           M per transaction (default 100); live images are never touched
  db load_metadefs [--path DIR] [--merge [--prefer-new | --overwrite]]
                           load Glance's metadefs definition files (*.json of DIR, default
                           [DEFAULT] metadata_source_path), one transaction per file; an existing
                           namespace is skipped, or with --merge gets what the file adds
                           (--prefer-new: and takes the file's version of what exists;
                           --overwrite: is replaced whole). Exit 1 if a file was malformed.
  db unload_metadefs       delete every namespace and resource type of the metadefs catalogue
  db export_metadefs [--path DIR]
                           write each namespace to DIR/<display name>.json, Glance's format
`;

export async function manage(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      'age-in-days': { type: 'string' },
      'age_in_days': { type: 'string' },
      'max-rows': { type: 'string' },
      'max_rows': { type: 'string' },
      path: { type: 'string' },
      merge: { type: 'boolean' },
      'prefer-new': { type: 'boolean' },
      'prefer_new': { type: 'boolean' },
      overwrite: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(MANAGE_USAGE);
    return 0;
  }
  // Glance's spellings `db_sync`, `db_version`… are accepted too.
  const words = positionals.flatMap((p) => (p.startsWith('db_') ? ['db', p.slice(3)] : [p]));
  // Glance's legacy `db_load_metadefs PATH` and `db_export_metadefs PATH`: the path as a positional.
  const legacyPath = words.length === 3 && /^(load|export)_metadefs$/.test(words[1]!) ? words.pop() : undefined;
  if (words[0] !== 'db' || words.length !== 2) throw new ConfigError(`expected 'db <action>'\n\n${MANAGE_USAGE}`);
  const action = words[1]!;
  const config = loadConfig({ configFile: values.config, dataDir: values['data-dir'] });
  const url = databaseUrl(config);
  const db = openDatabase(url, { maxPoolSize: 1, poolTimeout: config.database.pool_timeout });
  try {
    switch (action) {
      case 'sync':
      case 'upgrade': {
        const applied = await migrateToLatest(db);
        const status = await schemaStatus(db);
        process.stdout.write(applied.length > 0 ? `applied ${applied.join(', ')}; schema is now ${status.current}\n` : `schema is current (${status.current})\n`);
        return 0;
      }
      case 'version': {
        const status = await schemaStatus(db);
        process.stdout.write(`${status.current ?? 'none (empty database)'}\n`);
        return 0;
      }
      case 'check': {
        const status = await schemaStatus(db);
        if (status.unknown.length > 0) {
          process.stdout.write(`schema ${status.current} is newer than this Ocellus (${status.latest})\n`);
          return 4;
        }
        if (status.pending.length > 0) {
          process.stdout.write(`migrations pending: ${status.pending.join(', ')}; run 'ocellus manage db sync'\n`);
          return 3;
        }
        process.stdout.write(`schema is current (${status.current})\n`);
        return 0;
      }
      case 'purge': {
        const days = intArg(values['age-in-days'] ?? values['age_in_days'], '--age-in-days', 30, 0);
        const rows = intArg(values['max-rows'] ?? values['max_rows'], '--max-rows', 100, 1);
        const purged = await new SqlImageRepository(db).purgeDeleted(Date.now() - days * 86_400_000, rows);
        process.stdout.write(`purged ${purged} image(s) deleted more than ${days} day(s) ago\n`);
        return 0;
      }
      case 'load_metadefs': {
        const dir = values.path ?? legacyPath ?? config.DEFAULT.metadata_source_path;
        if (!fs.existsSync(dir)) throw new ConfigError(`--path ${dir}: no such file or directory`);
        const options = { merge: values.merge, preferNew: values['prefer-new'] ?? values['prefer_new'], overwrite: values.overwrite };
        const results = await loadMetadefs(db, dir, options).catch((err: unknown) => {
          throw err instanceof MetadefLoadOptionsError ? new ConfigError(err.message) : err;
        });
        if (results.length === 0) throw new ConfigError(`--path ${dir}: no .json definition files there`);
        const tally = new Map<string, number>();
        for (const r of results) {
          const outcome = 'error' in r ? 'failed' : r.outcome;
          tally.set(outcome, (tally.get(outcome) ?? 0) + 1);
          if ('error' in r) process.stderr.write(`error: ${r.error.message}; nothing of it was loaded\n`);
          else process.stdout.write(`${r.file}: namespace ${r.namespace} ${r.outcome}\n`);
        }
        process.stdout.write(`${results.length} file(s): ${[...tally].map(([o, n]) => `${n} ${o}`).join(', ')}\n`);
        return tally.has('failed') ? 1 : 0;
      }
      case 'unload_metadefs': {
        const removed = await unloadMetadefs(db);
        process.stdout.write(`removed ${removed.namespaces} namespace(s) and ${removed.resourceTypes} resource type(s)\n`);
        return 0;
      }
      case 'export_metadefs': {
        const dir = values.path ?? legacyPath ?? config.DEFAULT.metadata_source_path;
        for (const { file, namespace } of await exportMetadefs(db, dir)) process.stdout.write(`namespace ${namespace} saved in ${path.join(dir, file)}\n`);
        return 0;
      }
      default:
        throw new ConfigError(`unknown action 'db ${action}'\n\n${MANAGE_USAGE}`);
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new Error(`database ${redactUrl(url)}: ${redactUrl((err as Error).message)}`);
  } finally {
    await db.destroy();
  }
}

function intArg(raw: string | undefined, name: string, dflt: number, min: number): number {
  if (raw === undefined) return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new ConfigError(`${name} must be an integer >= ${min}, not '${raw}'`);
  return Number(raw);
}
