/**
 * `ocellus manage db load_metadefs` and `export_metadefs`: Glance's definition files read, parsed
 * (src/domain/metadef-files.ts) and applied to the catalogue one namespace at a time
 * (src/db/metadef-catalogue-io.ts), or the catalogue written out one file per namespace.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import { applyNamespaceDefinition, readCatalogue } from '../db/metadef-catalogue-io.js';
import type { Database } from '../db/tables.js';
import { exportDocument, exportFileName, MetadefFileError, parseMetadefFile, type LoadOptions, type LoadOutcome, type NamespaceDefinition } from '../domain/metadef-files.js';

/** Options that do not go together (Glance's two refusals). */
export class MetadefLoadOptionsError extends Error {}

export type FileResult = { file: string; namespace: string; outcome: LoadOutcome } | { file: string; error: MetadefFileError };

/** The `.json` files of `source` (a directory, or one file), by name. */
function definitionFiles(source: string): string[] {
  if (fs.statSync(source).isFile()) return [source];
  return fs
    .readdirSync(source, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.json'))
    .map((e) => path.join(source, e.name))
    .sort();
}

/**
 * Loads every `.json` file of `source` (a directory or a single file); one result per file, in
 * file-name order. A malformed file (or one whose transaction fails) is a result with its error,
 * never an exception: the other files load regardless.
 */
export async function loadMetadefs(db: Kysely<Database>, source: string, options: LoadOptions = {}, now: () => number = Date.now): Promise<FileResult[]> {
  if (!options.merge && (options.preferNew || options.overwrite)) throw new MetadefLoadOptionsError('--prefer-new and --overwrite only go with --merge');
  if (options.preferNew && options.overwrite) throw new MetadefLoadOptionsError('give at most one of --prefer-new and --overwrite');
  const results: FileResult[] = [];
  for (const file of definitionFiles(source)) {
    const name = path.basename(file);
    let def: NamespaceDefinition;
    try {
      def = parseMetadefFile(name, fs.readFileSync(file, 'utf8'));
    } catch (err) {
      if (!(err instanceof MetadefFileError)) throw err;
      results.push({ file: name, error: err });
      continue;
    }
    try {
      results.push({ file: name, namespace: def.namespace, outcome: await applyNamespaceDefinition(db, def, options, now) });
    } catch (err) {
      results.push({ file: name, error: new MetadefFileError(name, null, `was not loaded: ${(err as Error).message}`) });
    }
  }
  return results;
}

/** Writes one file per namespace into `dir` (created if missing); returns the file names, in namespace creation order. */
export async function exportMetadefs(db: Kysely<Database>, dir: string): Promise<{ file: string; namespace: string }[]> {
  const catalogue = await readCatalogue(db);
  fs.mkdirSync(dir, { recursive: true });
  const taken = new Set<string>();
  return catalogue.map((def) => {
    const file = exportFileName(def, taken);
    fs.writeFileSync(path.join(dir, file), `${JSON.stringify(exportDocument(def), null, 4)}\n`);
    return { file, namespace: def.namespace };
  });
}
