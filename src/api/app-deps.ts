import type { AuthStrategy } from '../auth/strategy.js';
import type { ImageActions } from '../domain/image-actions.js';
import type { ImageCatalogue } from '../domain/image-catalogue.js';
import type { ImageCreation } from '../domain/image-creation.js';
import type { ImageData } from '../domain/image-data.js';
import type { ImageEditing } from '../domain/image-editing.js';
import type { JsonSchema } from '../domain/image-schema.js';
import type { MemberService } from '../domain/member-service.js';
import type { ApiFeatures } from './versions.js';

/** What the API layer needs from below, assembled by the server's composition root. */
export interface ApiDeps {
  catalogue: ImageCatalogue;
  creation: ImageCreation;
  editing: ImageEditing;
  actions: ImageActions;
  imageData: ImageData;
  members: MemberService;
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
}
