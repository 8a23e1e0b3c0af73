/** Opens this node's image cache as the configuration describes it ([DEFAULT] image_cache_*). */
import type { Config } from '../config/options.js';
import { LocalImageCache } from './local-image-cache.js';

export function openImageCache(config: Config, dir: string, opts: { recover: boolean; log?: (msg: string, err?: unknown) => void }): LocalImageCache {
  return new LocalImageCache({
    dir,
    indexFile: config.DEFAULT.image_cache_sqlite_db,
    maxSize: config.DEFAULT.image_cache_max_size,
    stallTimeSec: config.DEFAULT.image_cache_stall_time,
    recover: opts.recover,
    log: opts.log,
  });
}
