import type { AuthStrategy } from '../auth/strategy.js';
import type { ImageService } from '../domain/image-service.js';
import type { ImageData } from '../domain/image-data.js';
import type { JsonSchema } from '../domain/image-schema.js';
import type { MemberService } from '../domain/member-service.js';
import type { ApiFeatures } from './versions.js';

/** What the API layer needs from below, assembled by the server's composition root. */
export interface ApiDeps {
  images: ImageService;
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
