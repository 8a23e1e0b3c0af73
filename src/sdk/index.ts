/**
 * Ocellus's SDK for the OpenStack Image API v2 (`import { ImageClient } from 'ocellus/sdk'`):
 *
 *   const client = ImageClient.fromEnvironment(); // clouds.yaml (OS_CLOUD) or the OS_* variables
 *   for await (const image of client.images.list()) console.log(image.id, image.name);
 */
export { ApiClient, ImagesApi, MembersApi, MetadefsApi, SDK_ROUTES, StoresApi, TasksApi } from './api.js';
export type { ApiClientOptions, PreparedRequest, ProgressCallback, SdkRoute } from './api.js';
export { ImageClient, ImageDataApi } from './client.js';
export type { DataSource, Download, ImageClientOptions, TlsOptions, UploadOptions } from './client.js';
export { APPLICATION_CREDENTIAL_AUTH_TYPE, authBody, catalogImageEndpoint, keystoneSession, sessionFor, staticSession, type Session, type SessionOptions } from './auth.js';
export { cloudFromEnvironment, cloudFromYaml, cloudsYamlPaths, loadCloudConfig, type CloudConfig, type LoadCloudOptions } from './config.js';
export * from './errors.js';
export * from './types.js';
