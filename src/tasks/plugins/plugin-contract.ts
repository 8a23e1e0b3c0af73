/**
 * What an import plugin is given and what it answers. The import engine stages the data,
 * copies it to a local file in a work directory and runs the configured plugins in order on
 * that file; each may replace the file and change the image's formats and properties. The
 * plugin itself is the domain's port (domain/import-ports.ts); this file adds what only the
 * plugins share, so they and `import-plugins.ts` (which builds them) import it without importing
 * each other.
 */

export type { ImportPlugin, PluginImage, PluginOutcome, PluginRun, StagedFile } from '../../domain/import-ports.js';

/** An import must fail with this message (the image returns to queued). */
export class ImportPluginError extends Error {
  override readonly name = 'ImportPluginError';
}

export interface ImportPluginOptions {
  /** `[image_conversion] output_format`. */
  outputFormat: 'raw' | 'qcow2' | 'vmdk';
  /** `[inject_metadata_properties] inject`. */
  inject: Record<string, string>;
  /** `[inject_metadata_properties] ignore_user_roles`. */
  ignoreUserRoles: string[];
  /** `[image_format] vmdk_allowed_types`: VMDK create-types qemu-img may open. */
  vmdkAllowedTypes: string[];
  /** Largest file a plugin may produce (`[DEFAULT] image_size_cap`): a decompression or conversion beyond it fails. */
  maxBytes: number;
}
