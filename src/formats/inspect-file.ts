import fs from 'node:fs';
import { FormatInspector, type Inspection } from './inspector.js';

/** The inspection of a whole local file (read once, as a stream), for data that no longer streams past: an import plugin's work file. */
export async function inspectFile(path: string, signal?: AbortSignal): Promise<Inspection> {
  const inspector = new FormatInspector();
  for await (const chunk of fs.createReadStream(path, { highWaterMark: 1024 * 1024, signal })) inspector.feed(chunk as Buffer);
  return inspector.finish();
}
