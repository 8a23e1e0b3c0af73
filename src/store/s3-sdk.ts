/**
 * The AWS SDK's S3 client (@aws-sdk/client-s3), loaded when an S3 store first uses it: ~25 MB of
 * memory that a node without an S3 store never spends. `aws.X` reads X from the module, loading it
 * (synchronously, as CommonJS) on first use.
 */
import { createRequire } from 'node:module';
import type * as S3 from '@aws-sdk/client-s3';

const require = createRequire(import.meta.url);
let loaded: typeof S3 | undefined;

export const aws: typeof S3 = new Proxy({} as typeof S3, {
  get: (_target, name) => (loaded ??= require('@aws-sdk/client-s3') as typeof S3)[name as keyof typeof S3],
});
