import type { BackendConfig } from '../config/store-options.js';
import type { BlobStore } from './blob-store.js';
import { FilesystemStore } from './filesystem.js';
import { HttpStore } from './http.js';
import { S3Store } from './s3.js';
import { SwiftStore } from './swift.js';
import type { StoreEnv } from './store-env.js';

/** The driver for a configured backend, by its type. */
export function createDriver(backend: BackendConfig, env: StoreEnv): BlobStore {
  switch (backend.type) {
    case 'file':
      return new FilesystemStore(backend.options, env);
    case 'http':
      return new HttpStore(backend.options, env);
    case 's3':
      return new S3Store(backend.options, env);
    case 'swift':
      return new SwiftStore(backend.options, env);
  }
}
