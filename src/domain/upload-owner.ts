import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { UploadOwner, UploadRecord } from '../db/image-records.js';

/**
 * Who this process is, for the upload bookkeeping in the database, and the attempts it runs
 * right now. With these a process tells a dead upload from a live one: its own attempts are
 * live iff it still runs them; another process on this host is dead if its pid is gone (or is
 * ours, from an earlier life); any other is dead once its heartbeat is stale.
 */
export class UploadRegistry {
  readonly host = os.hostname();
  readonly pid = process.pid;
  readonly instance = randomUUID();
  private readonly running = new Set<string>();

  constructor(readonly staleAfterMs: number) {}

  begin(): UploadOwner {
    const owner = { uploadId: randomUUID(), host: this.host, pid: this.pid, instance: this.instance };
    this.running.add(owner.uploadId);
    return owner;
  }

  end(uploadId: string): void {
    this.running.delete(uploadId);
  }

  isDead(rec: UploadRecord, now: number): boolean {
    if (rec.instance === this.instance) return !this.running.has(rec.uploadId);
    if (rec.host === this.host && (rec.pid === this.pid || !pidAlive(rec.pid))) return true;
    return now - rec.heartbeatAt > this.staleAfterMs;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
