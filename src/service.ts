import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { ApiDeps } from './api/app-deps.js';
import { buildServer } from './api/server.js';
import { anonymousAccess, authFlavor, databaseUrl, imageCacheSetup, type Config } from './config/options.js';
import { openImageCache } from './cache/open-cache.js';
import { ImageCaching } from './domain/image-caching.js';
import { AdminTokenAuth, adminTokenPath, ensureAdminToken } from './auth/admin-token.js';
import { AnonymousAccess } from './auth/anonymous.js';
import type { AdminCheck } from './auth/context.js';
import { KeystoneAuth } from './auth/keystone.js';
import type { AuthStrategy } from './auth/strategy.js';
import { TokenFileAuth } from './auth/token-file.js';
import { TrustedHeaderAuth } from './auth/trusted-headers.js';
import { AccessPolicy } from './domain/image-policy.js';
import { MetadefAccess } from './domain/metadef-access.js';
import { MetadefBodies } from './domain/metadef-schemas.js';
import { metadefServices } from './domain/metadef-services.js';
import { loadPropertyProtections } from './policy/property-protections.js';
import { PolicyEnforcer } from './policy/enforcer.js';
import { openDatabase, parseConnectionUrl, redactUrl, type DatabaseHandle } from './db/connect.js';
import { assertSchemaCurrent, migrateToLatest, schemaStatus } from './db/migrate.js';
import { SqlUnitOfWork } from './db/unit-of-work.js';
import { DataCleanup } from './domain/data-cleanup.js';
import { ImageAccess } from './domain/image-access.js';
import { ImageActions } from './domain/image-actions.js';
import { ImageCatalogue } from './domain/image-catalogue.js';
import { ImageCreation } from './domain/image-creation.js';
import { ImageData } from './domain/image-data.js';
import { ImageEditing } from './domain/image-editing.js';
import { ImageLocations } from './domain/image-locations.js';
import { ImagePatcher } from './domain/image-patch.js';
import { buildImageSchema, buildImagesSchema, ImageAttributes } from './domain/image-schema.js';
import { Leases } from './domain/leases.js';
import { LocationChecks } from './domain/location-checks.js';
import { LocationImports } from './domain/location-imports.js';
import { MemberService } from './domain/member-service.js';
import { ProjectLimits } from './domain/project-limits.js';
import { KeystoneLimits, type KeystoneLimitsOptions } from './limits/keystone-limits.js';
import { TaskPolicy } from './domain/task-policy.js';
import { TaskService } from './domain/task-service.js';
import { ImageStores } from './domain/image-stores.js';
import { ImageImport, type ImportMethod } from './domain/image-import.js';
import { ImageStaging } from './domain/image-staging.js';
import { ImportRunner } from './domain/import-runner.js';
import { STAGING_STORE } from './config/store-options.js';
import { StoreRegistry } from './store/registry.js';
import { GlanceDownloadSource, WebDownloadSource } from './tasks/import-data-sources.js';
import { buildImportPlugins } from './tasks/import-plugins.js';
import { ImportUriFilter } from './tasks/import-uri-filter.js';
import { importFilterOptions, importPluginOptions, webDownloadLimits } from './config/options.js';
import path from 'node:path';
import { notificationOptions } from './config/notification-options.js';
import { consoleSettings } from './config/console-options.js';
import { Notifier } from './domain/notifications.js';
import type { NotificationPublisher } from './notify/publisher.js';
import { buildPublisher } from './notify/setup.js';
import { imageSignatures } from './keys/signature-setup.js';
import { PrometheusMetrics } from './metrics/prometheus-metrics.js';
import { listenForScrapes, type MetricsListener } from './metrics/metrics-listener.js';
import { poolUse, type QueryObserver } from './db/connect.js';

export interface Service {
  app: FastifyInstance;
  db: DatabaseHandle;
  /** Finishes deletions and undoes dead uploads; runs at start-up and on every heartbeat interval. */
  cleanup: DataCleanup;
  /** Delivers the outbox's notifications; absent when notifications are off. */
  publisher?: NotificationPublisher;
  /** `[metrics] bind_port`'s own listener for /metrics, when set. */
  metricsListener?: MetricsListener;
  /** Stops the sweeps, the HTTP server and the database. */
  close(): Promise<void>;
}

/**
 * The composition root: builds database, store, domain and API from the configuration, applies
 * pending migrations and cleans up uploads that died with an earlier process, before serving.
 */
export async function createService(config: Config): Promise<Service> {
  const logLevel = config.DEFAULT.log_level;
  let app: FastifyInstance | undefined;
  const log = (msg: string, err?: unknown) => (err ? app?.log.error({ err }, msg) : app?.log.warn(msg));
  // The operator's files first: a mistake in one stops the start before anything is opened.
  const rules = new PolicyEnforcer(config.oslo_policy.policy_file, (msg) => log(msg));
  const policy = new AccessPolicy(rules, config.oslo_policy.enforce_scope);
  const protections = config.DEFAULT.property_protection_file
    ? loadPropertyProtections(config.DEFAULT.property_protection_file, config.DEFAULT.property_protection_rule_format as 'roles' | 'policies')
    : undefined;
  const auth = authStrategy(config, (creds) => rules.enforce('context_is_admin', {}, creds), (msg) => log(msg));

  const metrics = config.metrics.enabled ? new PrometheusMetrics() : undefined;
  const metricsPort = config.metrics.bind_port as number | null;
  const db = await openConfiguredDatabase(config, metrics && ((seconds, failed) => metrics.query(seconds, failed)));
  let metricsListener: MetricsListener | undefined;
  try {
    const stores = await StoreRegistry.open(config.stores, log);

    const uow = new SqlUnitOfWork(db);
    const imageSchema = buildImageSchema({ disk: config.image_format.disk_formats, container: config.image_format.container_formats });
    const attributes = new ImageAttributes(imageSchema);
    const leases = new Leases(uow, config.DEFAULT.upload_heartbeat_interval * 1000, log, Date.now, metrics);
    const cleanup = new DataCleanup(uow, stores, leases, log, Date.now, metrics);
    const notify = notificationOptions(config);
    const notifier = new Notifier(uow, notify);
    const publisher = buildPublisher(notify, {
      uow,
      commits: uow,
      leases,
      log: { info: (msg) => app?.log.info(msg), warn: (msg) => log(msg), error: (msg, err) => log(msg, err ?? new Error(msg)) },
      logLine: (priority, logger, line) => app?.log[priority === 'ERROR' ? 'error' : priority === 'WARN' ? 'warn' : 'info']({ logger }, line),
    });
    const access = new ImageAccess(uow.repos.images, policy, protections);
    const quotas = { properties: config.DEFAULT.image_property_quota, tags: config.DEFAULT.image_tag_quota };
    const projectLimits = new ProjectLimits(config.DEFAULT.use_keystone_limits ? new KeystoneLimits(keystoneLimitsOptions(config)) : null, uow.repos.images);
    const checks = new LocationChecks({ uow, stores, userStorageQuota: config.DEFAULT.user_storage_quota });
    const locations = new ImageLocations({
      uow,
      access,
      stores,
      cleanup,
      checks,
      notifier,
      settings: {
        showMultipleLocations: config.DEFAULT.show_multiple_locations,
        showImageDirectUrl: config.DEFAULT.show_image_direct_url,
        locationQuota: config.DEFAULT.image_location_quota,
        hashingAlgorithm: config.DEFAULT.hashing_algorithm,
      },
    });
    const locationImports = new LocationImports({
      uow,
      access,
      stores,
      leases,
      cleanup,
      checks,
      log,
      notifier,
      metrics,
      settings: {
        hashingAlgorithm: config.DEFAULT.hashing_algorithm,
        doSecureHash: config.DEFAULT.do_secure_hash,
        httpRetries: config.DEFAULT.http_retries,
      },
    });
    // The node-local image cache: its API and prefetcher with image_cache_dir, downloads through it with a caching flavor.
    const cacheSetup = imageCacheSetup(config);
    const caching = new ImageCaching({
      cache: cacheSetup ? openImageCache(config, cacheSetup.dir, { recover: true, log }) : null,
      serveDownloads: cacheSetup?.serveDownloads ?? false,
      images: uow.repos.images,
      access,
      stores,
      log,
      metrics,
    });
    const signatures = imageSignatures(config);
    const imageData = new ImageData({
      uow,
      access,
      stores,
      leases,
      imageSizeCap: config.DEFAULT.image_size_cap,
      userStorageQuota: config.DEFAULT.user_storage_quota,
      hashingAlgorithm: config.DEFAULT.hashing_algorithm,
      caching,
      limits: projectLimits,
      formatCheck: config.image_format.inspect_uploads
        ? {
            requireImageFormatMatch: config.image_format.require_image_format_match,
            vmdkAllowedTypes: config.image_format.vmdk_allowed_types,
            gptSafetyChecksNonfatal: config.image_format.gpt_safety_checks_nonfatal,
          }
        : null,
      signatures,
      log,
      notifier,
      metrics,
    });
    const formats = {
      requireImageFormatMatch: config.image_format.require_image_format_match,
      vmdkAllowedTypes: config.image_format.vmdk_allowed_types,
      gptSafetyChecksNonfatal: config.image_format.gpt_safety_checks_nonfatal,
    };
    const staging = stores.get(STAGING_STORE)!;
    const methods = config.DEFAULT.enabled_import_methods as ImportMethod[];
    const limits = webDownloadLimits(config);
    const web = new WebDownloadSource(new ImportUriFilter(importFilterOptions(config)), limits);
    const creation = new ImageCreation(attributes, notifier, access, quotas, Date.now, projectLimits);
    const taskTimeToLiveMs = config.task.task_time_to_live * 3600_000;
    const plugins = buildImportPlugins(config.image_import_opts.image_import_plugins, importPluginOptions(config));
    const runner = new ImportRunner({
      uow,
      stores,
      staging,
      leases,
      cleanup,
      web,
      remote: new GlanceDownloadSource(limits, config.glance_download_properties.extra_properties),
      plugins,
      formats,
      signatures,
      imageSizeCap: config.DEFAULT.image_size_cap,
      hashingAlgorithm: config.DEFAULT.hashing_algorithm,
      taskTimeToLiveMs,
      workDir: config.task.work_dir ?? path.join(config.dataDir, 'work'),
      concurrency: config.wsgi.task_pool_threads,
      limits: projectLimits,
      log,
      notifier,
      metrics,
    });
    const selfUrl = config.DEFAULT.worker_self_reference_url;
    const imports = new ImageImport({ uow, access, stores, leases, runner, web, methods, selfUrl, creation, taskTimeToLiveMs, notifier, limits: projectLimits });
    const imageStaging = new ImageStaging({
      uow,
      access,
      leases,
      staging,
      enabled: methods.includes('glance-direct'),
      imageSizeCap: config.DEFAULT.image_size_cap,
      formats,
      pluginsChangeData: plugins.length > 0,
      selfUrl,
      limits: projectLimits,
      log,
      notifier,
      metrics,
    });
    const tasks = new TaskService({
      tasks: uow.repos.tasks,
      access,
      policy: new TaskPolicy(policy),
      limits: { apiLimitMax: config.DEFAULT.api_limit_max, limitParamDefault: config.DEFAULT.limit_param_default },
      web,
      launch: (task, ctx) => imports.startLegacy(ctx, task),
    });
    const server = await buildServer(
      {
        catalogue: new ImageCatalogue(uow.repos.images, access, locations),
        creation,
        editing: new ImageEditing(uow.repos.images, access, new ImagePatcher(attributes, access, locations), quotas, locations, notifier),
        actions: new ImageActions(uow, access, cleanup, { selfUrl, delayedDelete: config.DEFAULT.delayed_delete, notifier, caching }),
        imageData,
        staging: imageStaging,
        imports,
        members: new MemberService(access, uow.repos.members, config.DEFAULT.image_member_quota, notifier),
        metadefs: metadefServices({ uow, access: new MetadefAccess(policy), notifier, bodies: new MetadefBodies() }),
        tasks,
        caching,
        projectLimits,
        stores: new ImageStores(stores, uow, access, cleanup, notifier),
        locations,
        locationImports,
        imageSchema,
        imagesSchema: buildImagesSchema(imageSchema),
        auth,
        limits: {
          apiLimitMax: config.DEFAULT.api_limit_max,
          limitParamDefault: config.DEFAULT.limit_param_default,
          maxRequestIdLength: config.DEFAULT.max_request_id_length,
          maxJsonBodySize: config.DEFAULT.max_json_body_size,
        },
        publicEndpoint: config.DEFAULT.public_endpoint,
        features: { multiStore: stores.multiStore, cache: caching.enabled, locationsApi: true },
        healthcheck: async () => {
          await sql`select 1`.execute(db);
        },
        metrics: metrics && { http: metrics, serveOnApiPort: metricsPort === null },
        console: consoleDeps(config, log),
      },
      { logger: logLevel === 'silent' ? false : { level: logLevel } },
    );
    app = server;
    metrics?.readFrom({
      taskCounts: () => uow.repos.tasks.countByStatus(),
      outboxDepth: () => uow.repos.outbox.depth(),
      poolUse: () => poolUse(db),
      poolMax: config.database.max_pool_size,
      publisher: () => publisher?.counters() ?? null,
      cacheSize: () => caching.size(),
      log,
    });
    if (metrics && metricsPort !== null) metricsListener = await listenForScrapes(metrics, config.metrics.bind_host ?? config.DEFAULT.bind_host, metricsPort, log);

    // Uploads that died with an earlier process and deletions it left half done, before serving; then on every heartbeat.
    // Location imports a dead process left are taken over (hashed again) the same way.
    await cleanup.sweep();
    await locationImports.resumeImports();
    await runner.resume();
    const sweeper = setInterval(() => {
      cleanup.sweep().catch((err: unknown) => log('cleanup sweep failed', err));
      locationImports.resumeImports().catch((err: unknown) => log('taking over location imports failed', err));
      runner.resume().catch((err: unknown) => log('taking over import tasks failed', err));
      tasks.deleteExpired().catch((err: unknown) => log('deleting expired tasks failed', err));
    }, leases.heartbeatMs);
    sweeper.unref();
    const prefetcher = caching.enabled ? setInterval(() => caching.schedulePrefetch(), config.DEFAULT.cache_prefetcher_interval * 1000) : undefined;
    prefetcher?.unref();
    if (caching.enabled) caching.schedulePrefetch();
    publisher?.start();

    return {
      app: server,
      db,
      cleanup,
      publisher,
      metricsListener,
      async close() {
        clearInterval(sweeper);
        clearInterval(prefetcher);
        // Node closes idle keep-alive connections once, when the close begins; one whose last
        // response (a download, say) was still ending then would hold the close for the whole
        // keep-alive timeout (65 s). Close such connections as soon as they become idle.
        const idle = setInterval(() => server.server.closeIdleConnections(), 50);
        try {
          await server.close();
        } finally {
          clearInterval(idle);
        }
        await locationImports.close();
        await runner.close();
        await caching.close();
        await publisher?.close();
        await metricsListener?.close();
        stores.close();
        await db.destroy();
      },
    };
  } catch (err) {
    await metricsListener?.close();
    await db.destroy().catch(() => undefined);
    throw err;
  }
}

/** `[oslo_limit]`, as the Keystone limits reader takes it. */
function keystoneLimitsOptions(config: Config): KeystoneLimitsOptions {
  const l = config.oslo_limit;
  return {
    authUrl: l.auth_url!,
    username: l.username!,
    password: l.password!,
    userDomainId: l.user_domain_id,
    userDomainName: l.user_domain_name,
    systemScope: l.system_scope,
    projectId: l.project_id,
    projectName: l.project_name,
    projectDomainId: l.project_domain_id,
    projectDomainName: l.project_domain_name,
    endpointId: l.endpoint_id,
    endpointServiceType: l.endpoint_service_type,
    endpointServiceName: l.endpoint_service_name,
    endpointRegionName: l.endpoint_region_name,
    endpointInterface: l.endpoint_interface,
    cacheTime: l.cache_time,
    timeout: l.timeout,
  };
}

/** The web console's settings (absent when `[console] enabled = false`). */
function consoleDeps(config: Config, log: (msg: string) => void): ApiDeps['console'] {
  const settings = consoleSettings(config, authFlavor(config));
  return settings ? { settings, log } : undefined;
}

/** The authentication strategy `[paste_deploy] flavor` names, read-only anonymous access around it when allowed. */
function authStrategy(config: Config, isAdmin: AdminCheck, log: (msg: string) => void): AuthStrategy {
  const strategy = flavorStrategy(config, isAdmin, log);
  return anonymousAccess(config) ? new AnonymousAccess(strategy) : strategy;
}

function flavorStrategy(config: Config, isAdmin: AdminCheck, log: (msg: string) => void): AuthStrategy {
  switch (authFlavor(config)) {
    case 'default': {
      const { token } = ensureAdminToken(adminTokenPath(config.dataDir));
      const tokenFile = config.token_auth.token_file ? new TokenFileAuth(config.token_auth.token_file, isAdmin, log) : undefined;
      return new AdminTokenAuth(token, tokenFile, isAdmin);
    }
    case 'keystone': {
      const k = config.keystone_authtoken;
      return new KeystoneAuth(
        {
          authUrl: k.auth_url!,
          wwwAuthenticateUri: k.www_authenticate_uri ?? k.auth_uri ?? k.auth_url!,
          username: k.username!,
          password: k.password!,
          userDomainName: k.user_domain_name,
          projectName: k.project_name!,
          projectDomainName: k.project_domain_name,
          tokenCacheTime: k.token_cache_time,
          includeServiceCatalog: k.include_service_catalog,
          serviceTokenRoles: k.service_token_roles,
          timeout: k.http_connect_timeout,
        },
        isAdmin,
      );
    }
    case 'token':
      return new TokenFileAuth(config.token_auth.token_file!, isAdmin, log);
    case 'noauth':
      return new TrustedHeaderAuth(isAdmin);
  }
}

/**
 * Opens `[database] connection` and makes sure its schema is the one this code knows: pending
 * migrations are applied automatically for the embedded SQLite database (or with
 * `auto_sync = true`); otherwise the operator runs `ocellus manage db sync`, and the server
 * refuses to start until then. Credentials never appear in errors.
 */
export async function openConfiguredDatabase(config: Config, observeQuery?: QueryObserver): Promise<DatabaseHandle> {
  const url = databaseUrl(config);
  const db = openDatabase(url, { maxPoolSize: config.database.max_pool_size, poolTimeout: config.database.pool_timeout }, observeQuery);
  try {
    const autoSync = config.database.auto_sync === '' ? parseConnectionUrl(url).kind === 'sqlite' : config.database.auto_sync === 'true';
    if (autoSync) await migrateToLatest(db);
    assertSchemaCurrent(await schemaStatus(db), 'ocellus manage db sync --config <your config file>');
    return db;
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw new Error(`database ${redactUrl(url)}: ${redactUrl((err as Error).message)}`);
  }
}
