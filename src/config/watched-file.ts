import fs from 'node:fs';

/**
 * A file the operator may edit while the server runs (policy rules, tokens): read at start —
 * where any error is fatal — then re-read when its modification time changes, checked at most
 * once a second. A version that does not parse is reported and the last good one kept.
 */
export class WatchedFile<T> {
  private value: T;
  private mtime: number;
  private lastStat: number;

  constructor(
    private readonly file: string,
    private readonly read: (file: string) => T,
    private readonly log: (msg: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.value = read(file);
    this.mtime = fs.statSync(file).mtimeMs;
    this.lastStat = now();
  }

  current(): T {
    if (this.now() - this.lastStat < 1000) return this.value;
    this.lastStat = this.now();
    let mtime: number;
    try {
      mtime = fs.statSync(this.file).mtimeMs;
    } catch {
      return this.value;
    }
    if (mtime === this.mtime) return this.value;
    this.mtime = mtime;
    try {
      this.value = this.read(this.file);
      this.log(`${this.file} reloaded`);
    } catch (err) {
      this.log(`${(err as Error).message}; keeping the version in force`);
    }
    return this.value;
  }
}
