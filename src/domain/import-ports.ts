/**
 * What an import needs from outside the domain, as interfaces the domain owns: where data comes
 * from (a URL, another region's Glance) and what processes it on the way (the import plugins).
 * src/tasks/ implements them; service.ts wires them in.
 */
import type { Readable } from 'node:stream';

/** Data being fetched: a stream and, when the source said, its size. */
export interface FetchedData {
  stream: Readable;
  size: number | null;
}

/** web-download: a user-supplied URL, fetched by the server (an SSRF risk: the filters decide). */
export interface WebSource {
  /** Null when `[import_filtering_opts]` allow the URI; else why not (answered 400). */
  uriRefusal(uri: string): Promise<string | null>;
  /** GET of the URI; every redirect passes the filters again; bounded in time and size. */
  open(uri: string, signal: AbortSignal): Promise<FetchedData>;
}

/** The caller's credentials that glance-download uses towards the other region's Glance. */
export interface RemoteCredentials {
  token: string;
  catalog: readonly unknown[];
}

/** glance-download: an image of another region's Glance, found through the Keystone catalogue. */
export interface RemoteGlanceSource {
  /** The image endpoint of `region` (`iface`: public, internal, admin); throws when the catalogue has none. */
  endpoint(catalog: readonly unknown[], region: string, iface: string): string;
  /** What the import copies from the remote image (formats, the configured extra properties); throws unless it is active. */
  metadata(endpoint: string, token: string, imageId: string, signal: AbortSignal): Promise<{ disk_format: string | null; container_format: string | null; properties: Record<string, string> }>;
  open(endpoint: string, token: string, imageId: string, signal: AbortSignal): Promise<FetchedData>;
}

/** A local file an import plugin works on. */
export interface StagedFile {
  path: string;
  size: number;
}

export interface PluginOutcome {
  /** The file that replaces the input (created by the plugin in the work directory; the caller removes the old one). */
  staged?: StagedFile;
  changes?: { disk_format?: string; container_format?: string; virtual_size?: number | null };
  /** Properties to set on the image. */
  properties?: Record<string, string>;
}

/** The image as a plugin sees it: read-only facts, never the domain's entity. */
export interface PluginImage {
  id: string;
  disk_format: string | null;
  container_format: string | null;
  properties: Readonly<Record<string, string>>;
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

/** One of `[image_import_opts] image_import_plugins`, run in order on a local copy of the staged data. */
export interface ImportPlugin {
  readonly name: string;
  run(input: PluginRun): Promise<PluginOutcome>;
}
