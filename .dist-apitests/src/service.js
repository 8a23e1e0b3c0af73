import { sql } from 'kysely';
import { buildServer } from './api/server.js';
import { databaseUrl, fileStoreDir } from './config/options.js';
import { openDatabase } from './db/connect.js';
import { ImageRepository } from './db/image-repository.js';
import { migrateToLatest } from './db/migrate.js';
import { ImageData } from './domain/image-data.js';
import { buildImageSchema, buildImagesSchema } from './domain/image-schema.js';
import { ImageService } from './domain/image-service.js';
import { UploadRegistry } from './domain/upload-owner.js';
import { UploadRecovery } from './domain/upload-recovery.js';
import { FilesystemStore } from './store/filesystem.js';
/**
 * The composition root: builds database, store, domain and API from the configuration, applies
 * pending migrations and cleans up uploads that died with an earlier process, before serving.
 */
export async function createService(config) {
    const logLevel = config.DEFAULT.log_level;
    const db = openDatabase(databaseUrl(config));
    await migrateToLatest(db);
    const store = new FilesystemStore(fileStoreDir(config));
    await store.init();
    const repo = new ImageRepository(db);
    const imageSchema = buildImageSchema({ disk: config.image_format.disk_formats, container: config.image_format.container_formats });
    const heartbeatMs = config.DEFAULT.upload_heartbeat_interval * 1000;
    const uploads = new UploadRegistry(heartbeatMs * 3);
    let app;
    const log = (msg, err) => (err ? app?.log.error({ err }, msg) : app?.log.warn(msg));
    const images = new ImageService({ repo, store, schema: imageSchema, log });
    const imageData = new ImageData({
        images,
        repo,
        store,
        uploads,
        imageSizeCap: config.DEFAULT.image_size_cap,
        hashingAlgorithm: config.DEFAULT.hashing_algorithm,
        heartbeatMs,
        log,
    });
    app = await buildServer({
        images,
        imageData,
        imageSchema,
        imagesSchema: buildImagesSchema(imageSchema),
        limits: {
            apiLimitMax: config.DEFAULT.api_limit_max,
            limitParamDefault: config.DEFAULT.limit_param_default,
            maxRequestIdLength: config.DEFAULT.max_request_id_length,
            maxJsonBodySize: config.DEFAULT.max_json_body_size,
        },
        publicEndpoint: config.DEFAULT.public_endpoint,
        healthcheck: async () => {
            await sql `select 1`.execute(db);
        },
    }, { logger: logLevel === 'silent' ? false : { level: logLevel } });
    const recovery = new UploadRecovery(repo, store, uploads, log);
    await recovery.sweep();
    const sweeper = setInterval(() => {
        recovery.sweep().catch((err) => log('upload recovery sweep failed', err));
    }, heartbeatMs);
    sweeper.unref();
    return {
        app,
        db,
        recovery,
        async close() {
            clearInterval(sweeper);
            await app.close();
            await db.destroy();
        },
    };
}
//# sourceMappingURL=service.js.map