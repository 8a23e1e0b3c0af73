import { finished, spawnLimited, type LimitedRun } from './limited-process.js';
import { ImportPluginError } from './plugin-contract.js';

/**
 * qemu-img, run on untrusted files always with an explicit `-f` (probing lets the file choose
 * the driver: "raw" bytes that begin with a qcow2 header would be opened as qcow2, backing file
 * and all) and under resource limits.
 */

/** `qemu-img info` needs little: Nova's limits (1 GiB address space, 30 s of CPU) with a wall-clock bound. */
const INFO_RUN = { limits: { addressSpace: 1 << 30, cpuSeconds: 30 }, timeoutMs: 60_000 } as const;
/**
 * A conversion's CPU time grows with the image, so only its memory is bounded; the import's signal
 * stops it. 2 GiB: qemu-img convert runs up to 64 I/O threads of 8 MiB stacks besides its buffers
 * (at 1 GiB, thread creation failed now and then: "qemu_thread_create: Resource temporarily
 * unavailable").
 */
const CONVERT_LIMITS = { addressSpace: 2 << 30 } as const;

/** The facts of `qemu-img info --output=json` the plugins decide on. */
export interface QemuImgInfo {
  format: string;
  virtualSize: number;
  /** `backing-filename`, present when the image names a backing file. */
  backingFilename: string | null;
  /** qcow2's external data file (`format-specific.data.data-file`). */
  dataFile: string | null;
  /** vmdk's `format-specific.data.create-type`. */
  vmdkCreateType: string | null;
}

export async function qemuImgInfo(file: string, driver: string, signal: AbortSignal): Promise<QemuImgInfo> {
  const run: LimitedRun = { ...INFO_RUN, signal };
  const child = spawnLimited('qemu-img', ['info', '--output=json', '-f', driver, file], run);
  const { stdout } = await finished(child, 'qemu-img info', run, { collectStdout: true, maxStdout: 4 << 20, hide: [file] });
  return parseInfo(stdout);
}

export async function qemuImgConvert(source: string, sourceDriver: string, dest: string, destDriver: string, signal: AbortSignal): Promise<void> {
  const run: LimitedRun = { limits: CONVERT_LIMITS, signal };
  const child = spawnLimited('qemu-img', ['convert', '-f', sourceDriver, '-O', destDriver, source, dest], run);
  await finished(child, 'qemu-img convert', run, { collectStdout: true, maxStdout: 1 << 20, hide: [source, dest] });
}

function parseInfo(text: string): QemuImgInfo {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ImportPluginError('qemu-img info did not answer JSON');
  }
  const info = record(doc);
  const format = info?.['format'];
  const virtualSize = info?.['virtual-size'];
  if (!info || typeof format !== 'string' || typeof virtualSize !== 'number' || !Number.isSafeInteger(virtualSize) || virtualSize < 0) {
    throw new ImportPluginError('qemu-img info did not report a format and a virtual size');
  }
  const data = record(record(info['format-specific'])?.['data']);
  const backing = info['backing-filename'] ?? info['full-backing-filename'];
  const dataFile = data?.['data-file'];
  const createType = data?.['create-type'];
  return {
    format,
    virtualSize,
    // A backing file of any spelling counts, even an empty or odd one: Glance refuses on the key's presence.
    backingFilename: backing === undefined ? null : String(backing),
    dataFile: dataFile === undefined || dataFile === null ? null : String(dataFile),
    vmdkCreateType: typeof createType === 'string' ? createType : null,
  };
}

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}
