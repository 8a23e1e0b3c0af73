/**
 * The domain's import sources (domain/import-ports.ts) over the fetchers of this layer:
 * web-download through the URI and address filters, glance-download through the caller's
 * Keystone catalogue.
 */
import type { FetchedData, RemoteGlanceSource, WebSource } from '../domain/import-ports.js';
import { fetchRemoteImage, glanceEndpoint, importedMetadata, openRemoteImageData, type CatalogEntry } from './glance-download.js';
import { ImportSourceError } from './import-sources.js';
import type { ImportUriFilter } from './import-uri-filter.js';
import { openWebDownload, type DownloadLimits } from './web-download.js';

export class WebDownloadSource implements WebSource {
  constructor(
    private readonly filter: ImportUriFilter,
    private readonly limits: DownloadLimits,
  ) {}

  /** The URI's text only, as Glance checks it at request time: a name is resolved (and its addresses judged) when the download connects. */
  async uriRefusal(uri: string): Promise<string | null> {
    return this.filter.refusal(uri);
  }

  open(uri: string, signal: AbortSignal): Promise<FetchedData> {
    return openWebDownload(uri, this.filter, this.limits, signal);
  }
}

export class GlanceDownloadSource implements RemoteGlanceSource {
  constructor(
    private readonly limits: DownloadLimits,
    /** [glance_download_properties] extra_properties. */
    private readonly extraProperties: readonly string[],
  ) {}

  endpoint(catalog: readonly unknown[], region: string, iface: string): string {
    return glanceEndpoint(catalog as readonly CatalogEntry[], region, iface);
  }

  async metadata(endpoint: string, token: string, imageId: string, signal: AbortSignal) {
    const remote = await fetchRemoteImage(endpoint, token, imageId, signal);
    if (remote.status !== 'active') throw new ImportSourceError(`Remote image ${imageId} is ${String(remote.status)}, not active: it has no data to download.`, false);
    return importedMetadata(remote, this.extraProperties);
  }

  open(endpoint: string, token: string, imageId: string, signal: AbortSignal): Promise<FetchedData> {
    return openRemoteImageData(endpoint, token, imageId, this.limits, signal);
  }
}
