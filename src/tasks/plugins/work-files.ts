import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { StagedFile } from './plugin-contract.js';

/** A path in `workDir` no other plugin run uses (the engine may run several imports in one directory). */
export function newWorkFile(workDir: string, label: string): string {
  return path.join(workDir, `${label}-${randomBytes(8).toString('hex')}`);
}

export async function stagedFileAt(file: string): Promise<StagedFile> {
  return { path: file, size: (await fs.stat(file)).size };
}

/** Removes a file a failed plugin run left; a file already gone is fine. */
export async function removeWorkFile(file: string): Promise<void> {
  await fs.rm(file, { force: true });
}
