/**
 * Several nodes, each with its own staging directory: the node that staged an image's data records
 * its URL (`os_glance_stage_host`, from worker_self_reference_url), and the calls that need that
 * data — a glance-direct import, a DELETE while it is staged — go to that node, as Glance proxies
 * them: only that node reaches its staging directory.
 */
import type { ImageRecord } from './image-model.js';

/** The call must be made on `host`, the node holding the image's staged data. */
export class StagedElsewhere extends Error {
  constructor(readonly host: string) {
    super(`the data of this image is staged on ${host}`);
  }
}

/** Throws StagedElsewhere when the image's staged data is on another node than `selfUrl` (this one). */
export function assertStagedHere(image: ImageRecord, selfUrl: string | null): void {
  const host = image.status === 'uploading' ? image.properties.os_glance_stage_host : undefined;
  if (host && host !== selfUrl) throw new StagedElsewhere(host);
}
