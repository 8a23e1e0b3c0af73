import type { AuthStrategy } from '../auth/strategy.js';
import type { ConsoleSettings } from '../config/console-options.js';
import type { ImageActions } from '../domain/image-actions.js';
import type { ImageCatalogue } from '../domain/image-catalogue.js';
import type { ImageCreation } from '../domain/image-creation.js';
import type { ImageCaching } from '../domain/image-caching.js';
import type { ImageData } from '../domain/image-data.js';
import type { ImageEditing } from '../domain/image-editing.js';
import type { ImageImport } from '../domain/image-import.js';
import type { ImageLocations } from '../domain/image-locations.js';
import type { JsonSchema } from '../domain/image-schema.js';
import type { ImageStaging } from '../domain/image-staging.js';
import type { ImageStores } from '../domain/image-stores.js';
import type { LocationImports } from '../domain/location-imports.js';
import type { MemberService } from '../domain/member-service.js';
import type { MetadefNamespaces } from '../domain/metadef-namespaces.js';
import type { MetadefObjects } from '../domain/metadef-objects.js';
import type { MetadefProperties } from '../domain/metadef-properties.js';
import type { MetadefResourceTypes } from '../domain/metadef-resource-types.js';
import type { MetadefTags } from '../domain/metadef-tags.js';
import type { ProjectLimits } from '../domain/project-limits.js';
import type { TaskService } from '../domain/task-service.js';
import type { HttpMetrics } from './metrics-routes.js';

/** What the API layer needs from below, assembled by the server's composition root. */
export interface ApiDeps {
  catalogue: ImageCatalogue;
  creation: ImageCreation;
  editing: ImageEditing;
  actions: ImageActions;
  imageData: ImageData;
  /** PUT /v2/images/{id}/stage. */
  staging: ImageStaging;
  /** POST /v2/images/{id}/import and GET /v2/info/import. */
  imports: ImageImport;
  members: MemberService;
  stores: ImageStores;
  /** The image view's location keys, PATCH's location rules, and GET /v2/images/{id}/locations (v2.17). */
  locations: ImageLocations;
  /** POST /v2/images/{id}/locations (v2.17) and the hashing of the data it points at. */
  locationImports: LocationImports;
  /** The legacy task API (/v2/tasks) and GET /v2/images/{id}/tasks. */
  tasks: TaskService;
  /** The node-local image cache's API (/v2/cache…). */
  caching: ImageCaching;
  /** The metadata definitions catalogue (/v2/metadefs/…). */
  metadefs: { namespaces: MetadefNamespaces; objects: MetadefObjects; properties: MetadefProperties; tags: MetadefTags; resourceTypes: MetadefResourceTypes };
  /** GET /v2/info/usage (unified limits). */
  projectLimits: ProjectLimits;
  imageSchema: JsonSchema;
  imagesSchema: JsonSchema;
  /** Who is calling: the strategy `[paste_deploy] flavor` selects. */
  auth: AuthStrategy;
  limits: { apiLimitMax: number; limitParamDefault: number; maxRequestIdLength: number; maxJsonBodySize: number };
  publicEndpoint: string | null;
  /** Which optional APIs exist: they decide the versions advertised and accepted. */
  features: ApiFeatures;
  /** Resolves if the metadata database answers. */
  healthcheck: () => Promise<void>;
  /** `[metrics]`: requests counted and timed, and GET /metrics served here unless it has its own listener (absent = off). */
  metrics?: { http: HttpMetrics; serveOnApiPort: boolean };
  /** `[console]`: the web console at /console/ (absent = off). */
  console?: { settings: ConsoleSettings; log: (msg: string) => void };
}

/**
 * The optional features a v2 minor version announces. A version is advertised (and accepted as a
 * URL prefix) only when what it added exists here, so a client that checks the version before
 * calling an API finds the API. Each feature, when it lands, flips its flag in service.ts.
 */
export interface ApiFeatures {
  /** `enabled_backends`: stores discovery and multi-store import (v2.8, v2.10–v2.13). */
  multiStore: boolean;
  /** The image cache API, `image_cache_dir` (v2.14, v2.16, v2.18). */
  cache: boolean;
  /** `POST`/`GET /v2/images/{id}/locations` (v2.17). */
  locationsApi: boolean;
}
