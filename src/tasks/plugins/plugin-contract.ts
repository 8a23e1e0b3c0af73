/**
 * What an import plugin is given and what it answers. The import engine stages the data,
 * copies it to a local file in a work directory and runs the configured plugins in order on
 * that file; each may replace the file and change the image's formats and properties. This
 * file holds the contract only, so the plugins and `import-plugins.ts` (which builds them)
 * import it without importing each other.
 */

export interface StagedFile {
  path: string;
  size: number;
}

/** The image as a plugin sees it: read-only facts, never the domain's entity. */
export interface PluginImage {
  id: string;
  disk_format: string | null;
  container_format: string | null;
  properties: Readonly<Record<string, string>>;
}

export interface PluginOutcome {
  /** The file that replaces the input (created by the plugin inside workDir; the caller removes the old one). */
  staged?: StagedFile;
  changes?: { disk_format?: string; container_format?: string; virtual_size?: number | null };
  /** Properties to set on the image. */
  properties?: Record<string, string>;
}

export interface PluginRun {
  staged: StagedFile;
  image: PluginImage;
  /** Roles of the caller who asked for the import. */
  roles: readonly string[];
  /** Where a plugin writes the files it makes (the caller owns and removes the directory). */
  workDir: string;
  /** Aborted when the import is cancelled or its owner loses the lease: stop and reject with its reason. */
  signal: AbortSignal;
}

export interface ImportPlugin {
  readonly name: string;
  run(input: PluginRun): Promise<PluginOutcome>;
}

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
