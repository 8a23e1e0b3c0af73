import { BlobNotFound } from '../store/blob-store.js';
/**
 * Finds uploads whose process died (SIGKILL, power loss, a crashed node) and undoes them: the
 * partial bytes are removed and the image goes back to `queued`, so it can be uploaded again.
 * Glance leaves such images in `saving` forever; Ocellus runs this at start-up and then on
 * every heartbeat interval, so any node sharing the database cleans up after any other.
 */
export class UploadRecovery {
    repo;
    store;
    uploads;
    log;
    now;
    constructor(repo, store, uploads, log = () => undefined, now = Date.now) {
        this.repo = repo;
        this.store = store;
        this.uploads = uploads;
        this.log = log;
        this.now = now;
    }
    /** One pass; returns the ids of images whose dead upload was cleaned up. */
    async sweep() {
        const recovered = [];
        for (const rec of await this.repo.uploadsOnRecord()) {
            if (!this.uploads.isDead(rec, this.now()))
                continue;
            // Data first, then the record: if we die in between, the next sweep finds it again.
            await this.store.discardPartial(rec.imageId, rec.uploadId);
            if (rec.status === 'saving' || rec.status === 'deleted') {
                // The writer may have committed just before its process died, without the image becoming active.
                await this.store.delete(rec.imageId).catch((err) => {
                    if (!(err instanceof BlobNotFound))
                        throw err;
                });
            }
            const requeued = await this.repo.abandonUpload(rec.imageId, rec.uploadId, this.now());
            this.log(`removed the data of a dead upload to image ${rec.imageId} (pid ${rec.pid} on ${rec.host})${requeued ? '; image is queued again' : ''}`);
            recovered.push(rec.imageId);
        }
        return recovered;
    }
}
//# sourceMappingURL=upload-recovery.js.map