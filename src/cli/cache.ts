/**
 * `ocellus cache prefetch|prune|clean`: Glance's glance-cache-prefetcher, -pruner and -cleaner
 * for this node's image cache ([DEFAULT] image_cache_dir), run beside (or without) the server.
 * They never remove a running server's fills: only the server's start-up does that.
 */
import { parseArgs } from 'node:util';
import { openImageCache } from '../cache/open-cache.js';
import { ConfigError, imageCacheSetup, loadConfig } from '../config/options.js';
import { SqlUnitOfWork } from '../db/unit-of-work.js';
import { CachePrefetcher } from '../domain/cache-prefetcher.js';
import { openConfiguredDatabase } from '../service.js';
import { StoreRegistry } from '../store/registry.js';

export const CACHE_USAGE = `Usage: ocellus cache [--config FILE] [--data-dir DIR] prefetch|prune|clean

Actions:
  prefetch   cache every image queued with PUT /v2/cache/{image_id} (exit 1 if some could not be)
  prune      remove least recently used entries until the cache is within image_cache_max_size
  clean      remove invalid entries, and incomplete ones older than image_cache_stall_time
`;

export async function cacheCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(CACHE_USAGE);
    return 0;
  }
  const action = positionals[0];
  if (positionals.length !== 1 || !['prefetch', 'prune', 'clean'].includes(action!)) throw new ConfigError(`expected one of prefetch, prune, clean\n\n${CACHE_USAGE}`);
  const config = loadConfig({ configFile: values.config, dataDir: values['data-dir'] });
  const setup = imageCacheSetup(config);
  if (!setup) throw new ConfigError('no image cache is configured: set [DEFAULT] image_cache_dir (or a caching [paste_deploy] flavor)');
  const log = (msg: string, err?: unknown) => process.stderr.write(`${msg}${err ? `: ${(err as Error).message ?? String(err)}` : ''}\n`);
  const cache = openImageCache(config, setup.dir, { recover: false, log });
  try {
    switch (action) {
      case 'prune': {
        const { files, bytes } = await cache.prune();
        process.stdout.write(`pruned ${files} cached image(s), ${bytes} bytes\n`);
        return 0;
      }
      case 'clean': {
        const { invalid, stalled } = await cache.clean();
        process.stdout.write(`removed ${invalid} invalid and ${stalled} stalled cache entries\n`);
        return 0;
      }
      default: {
        const db = await openConfiguredDatabase(config);
        const stores = await StoreRegistry.open(config.stores, log);
        try {
          const prefetcher = new CachePrefetcher({ cache, images: new SqlUnitOfWork(db).repos.images, stores, log });
          const { cached, failed } = await prefetcher.run();
          process.stdout.write(`cached ${cached} image(s)${failed > 0 ? `; ${failed} could not be and stay queued` : ''}\n`);
          return failed > 0 ? 1 : 0;
        } finally {
          stores.close();
          await db.destroy();
        }
      }
    }
  } finally {
    await cache.close();
  }
}
