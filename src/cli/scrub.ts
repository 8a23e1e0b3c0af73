/**
 * `ocellus scrub`: Glance's glance-scrubber. One pass (or `--daemon`, a pass every wakeup_time)
 * removes the data of images delayed delete left pending_delete for scrub_time; `--restore ID`
 * brings one back; `--orphans` searches the stores for objects no image owns (`--dry-run` lists
 * them without removing). Reads the same configuration file as `ocellus serve`.
 */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config, type LoadOptions } from '../config/options.js';
import { SqlUnitOfWork } from '../db/unit-of-work.js';
import { DataCleanup } from '../domain/data-cleanup.js';
import { DomainError } from '../domain/errors.js';
import { Leases } from '../domain/leases.js';
import { OrphanData } from '../domain/orphan-data.js';
import { Scrubber, type ScrubReport } from '../domain/scrubber.js';
import { openConfiguredDatabase } from '../service.js';
import { StoreRegistry } from '../store/registry.js';

export const SCRUB_USAGE = `Usage: ocellus scrub [--config FILE] [--data-dir DIR] [--daemon] [--restore IMAGE_ID]
       ocellus scrub [--config FILE] [--data-dir DIR] --orphans [--dry-run] [--grace SECONDS]

  (no option)         one pass: remove the data of images pending_delete for [DEFAULT] scrub_time
                      seconds or more ([DEFAULT] scrub_pool_size at a time) and mark them deleted;
                      retry removals an earlier pass could not finish
  -D, --daemon        a pass every [DEFAULT] wakeup_time seconds until SIGTERM/SIGINT ([DEFAULT] daemon)
  --restore IMAGE_ID  bring a pending_delete image back to active, with its data
  --orphans           find the objects the stores hold that no image owns, and remove them
  --dry-run           with --orphans: list them, remove nothing
  --grace SECONDS     with --orphans: objects written less than this long ago are left alone (default 3600)

Exit status: 0 done; 1 some data could not be removed (it is retried on the next pass) or the
image could not be restored; 2 a configuration or start-up problem.
`;

const log = (msg: string, err?: unknown) => {
  const why = err === undefined ? '' : `: ${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(`${new Date().toISOString()} ocellus scrub: ${msg}${why}\n`);
};

export async function scrub(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      'data-dir': { type: 'string' },
      daemon: { type: 'boolean', short: 'D' },
      restore: { type: 'string' },
      orphans: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      grace: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(SCRUB_USAGE);
    return 0;
  }
  const overrides: NonNullable<LoadOptions['overrides']> = values.daemon ? [{ section: 'DEFAULT', name: 'daemon', value: 'true' }] : [];
  const config = loadConfig({ configFile: values.config, dataDir: values['data-dir'], overrides });
  const daemon = config.DEFAULT.daemon;
  if (values.restore !== undefined && daemon) throw new ConfigError('The restore and daemon options should not be set together. Please use either of them in one request.');
  if ((values['dry-run'] || values.grace !== undefined) && !values.orphans) throw new ConfigError('--dry-run and --grace go with --orphans');
  const grace = values.grace ?? '3600';
  if (!/^\d+$/.test(grace)) throw new ConfigError(`--grace must be a number of seconds, not '${grace}'`);

  const db = await openConfiguredDatabase(config);
  let stores: StoreRegistry | undefined;
  try {
    stores = await StoreRegistry.open(config.stores, log);
    const uow = new SqlUnitOfWork(db);
    if (values.orphans) return await orphans(new OrphanData({ uow, stores, graceMs: Number(grace) * 1000, log }), values['dry-run'] === true);
    const leases = new Leases(uow, config.DEFAULT.upload_heartbeat_interval * 1000, log);
    const scrubber = new Scrubber({
      uow,
      leases,
      cleanup: new DataCleanup(uow, stores, leases, log),
      scrubTimeMs: config.DEFAULT.scrub_time * 1000,
      poolSize: config.DEFAULT.scrub_pool_size,
      log,
    });
    if (values.restore !== undefined) return await restore(scrubber, values.restore);
    if (daemon) return await runDaemon(scrubber, config);
    return summarize(await scrubber.run());
  } finally {
    stores?.close();
    await db.destroy();
  }
}

async function restore(scrubber: Scrubber, id: string): Promise<number> {
  try {
    await scrubber.restore(id);
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    process.stderr.write(`ERROR: ${err.message}\n`);
    return 1;
  }
  process.stdout.write(`image ${id} restored to active\n`);
  return 0;
}

/** Prints what a pass did; 1 if some data could not be removed. */
function summarize(report: ScrubReport): number {
  process.stdout.write(`scrubbed ${report.scrubbed.length} image(s); removed the data of ${report.removed} location(s); ${report.failures.length} failure(s)\n`);
  for (const f of report.failures) process.stdout.write(`  not removed: image ${f.imageId}${f.url ? ` at ${f.url}` : ''}: ${f.error}\n`);
  return report.failures.length > 0 ? 1 : 0;
}

/** A pass every wakeup_time seconds; SIGTERM or SIGINT ends it after the pass under way. */
async function runDaemon(scrubber: Scrubber, config: Config): Promise<number> {
  const wakeupMs = config.DEFAULT.wakeup_time * 1000;
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  let stopping = false;
  const onSignal = () => {
    stopping = true;
    stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  log(`running as a daemon: a pass every ${config.DEFAULT.wakeup_time} s, scrub_time ${config.DEFAULT.scrub_time} s, scrub_pool_size ${config.DEFAULT.scrub_pool_size}`);
  try {
    while (!stopping) {
      try {
        summarize(await scrubber.run());
      } catch (err) {
        log('the pass failed; the next one tries again', err);
      }
      if (stopping) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise<void>((resolve) => (timer = setTimeout(resolve, wakeupMs)))]);
      clearTimeout(timer);
    }
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
  return 0;
}

async function orphans(finder: OrphanData, dryRun: boolean): Promise<number> {
  const found = await finder.find();
  for (const o of found) process.stdout.write(`${dryRun ? 'orphan' : 'removing'} ${o.backend} ${o.url} ${o.size} bytes, written ${new Date(o.modifiedAt).toISOString()}\n`);
  if (dryRun) {
    process.stdout.write(`${found.length} orphaned object(s); nothing removed (dry run)\n`);
    return 0;
  }
  const { removed, failures } = await finder.remove(found);
  for (const f of failures) process.stdout.write(`  not removed: ${f.orphan.url}: ${f.error}\n`);
  process.stdout.write(`removed ${removed.length} orphaned object(s); ${failures.length} failure(s)\n`);
  return failures.length > 0 ? 1 : 0;
}
