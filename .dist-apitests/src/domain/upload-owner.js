import { randomUUID } from 'node:crypto';
import os from 'node:os';
/**
 * Who this process is, for the upload bookkeeping in the database, and the attempts it runs
 * right now. With these a process tells a dead upload from a live one: its own attempts are
 * live iff it still runs them; another process on this host is dead if its pid is gone (or is
 * ours, from an earlier life); any other is dead once its heartbeat is stale.
 */
export class UploadRegistry {
    staleAfterMs;
    host = os.hostname();
    pid = process.pid;
    instance = randomUUID();
    running = new Set();
    constructor(staleAfterMs) {
        this.staleAfterMs = staleAfterMs;
    }
    begin() {
        const owner = { uploadId: randomUUID(), host: this.host, pid: this.pid, instance: this.instance };
        this.running.add(owner.uploadId);
        return owner;
    }
    end(uploadId) {
        this.running.delete(uploadId);
    }
    isDead(rec, now) {
        if (rec.instance === this.instance)
            return !this.running.has(rec.uploadId);
        if (rec.host === this.host && (rec.pid === this.pid || !pidAlive(rec.pid)))
            return true;
        return now - rec.heartbeatAt > this.staleAfterMs;
    }
}
function pidAlive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    }
    catch (err) {
        return err.code === 'EPERM';
    }
}
//# sourceMappingURL=upload-owner.js.map