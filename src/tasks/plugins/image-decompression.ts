import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { finished, spawnLimited, type LimitedRun } from './limited-process.js';
import { ImportPluginError, type ImportPlugin, type ImportPluginOptions, type PluginOutcome, type PluginRun } from './plugin-contract.js';
import { newWorkFile, removeWorkFile, stagedFileAt } from './work-files.js';
import { readZipMember } from './zip-member.js';

/**
 * `image_decompression`: an image uploaded compressed but not declared so
 * (container_format ≠ `compressed`) is replaced by its decompressed content, as Glance's
 * plugin does for gzip and zip; Ocellus also reads xz and lzma (the usual wrappers of cloud
 * images). The bytes stream through — never whole in memory — and stop at the size cap, so
 * a small archive that inflates to petabytes (a zip bomb) fails the import instead of
 * filling the disk.
 */
export type Compression = 'gzip' | 'zip' | 'xz' | 'lzma';

const HEAD_BYTES = 13;
const GZIP = Buffer.from([0x1f, 0x8b, 0x08]);
const ZIP = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** The compression whose signature starts `head` (its first 13 bytes), or null for anything else. */
export function detectCompression(head: Buffer): Compression | null {
  if (startsWith(head, GZIP)) return 'gzip';
  if (startsWith(head, ZIP)) return 'zip';
  if (startsWith(head, XZ)) return 'xz';
  if (isLzmaAloneHeader(head)) return 'lzma';
  return null;
}

/**
 * The legacy .lzma header has no magic number: properties byte, dictionary size, uncompressed
 * size. A raw disk could begin with 5D 00 00 by chance, so the header is taken as lzma only when
 * it is one xz itself accepts: the usual properties (lc=3, lp=0, pb=2), a dictionary of 2^n or
 * 2^n + 2^(n-1) bytes, and a size that is unknown (all ones) or below 256 GiB.
 */
function isLzmaAloneHeader(head: Buffer): boolean {
  if (head.length < HEAD_BYTES || head[0] !== 0x5d || head[1] !== 0 || head[2] !== 0) return false;
  const dict = head.readUInt32LE(1);
  let d = dict - 1;
  d |= d >>> 2;
  d |= d >>> 3;
  d |= d >>> 4;
  d |= d >>> 8;
  d |= d >>> 16;
  // Rounded up to the next 2^n or 2^n + 2^(n-1), as liblzma's lzma_alone decoder checks.
  if ((d >>> 0) + 1 !== dict) return false;
  const size = head.readBigUInt64LE(5);
  return size === 0xffffffffffffffffn || size < 1n << 38n;
}

function startsWith(head: Buffer, magic: Buffer): boolean {
  return head.length >= magic.length && head.subarray(0, magic.length).equals(magic);
}

/** xz's own bound on the decoder's memory (a hostile header may ask for a 4 GiB dictionary); the process limit is above it. */
const XZ_MEMLIMIT = 1 << 30;
const XZ_LIMITS = { addressSpace: 1.5 * (1 << 30) } as const;

export class ImageDecompressionPlugin implements ImportPlugin {
  readonly name = 'image_decompression';

  constructor(private readonly options: Pick<ImportPluginOptions, 'maxBytes'>) {}

  async run({ staged, image, workDir, signal }: PluginRun): Promise<PluginOutcome> {
    // Declared compressed: the consumer expects the compressed bytes, so they are kept.
    if (image.container_format === 'compressed') return {};
    const kind = detectCompression(await readHead(staged.path));
    if (kind === null) return {};
    const dest = newWorkFile(workDir, 'decompressed');
    try {
      if (kind === 'gzip') await this.gunzip(staged.path, dest, signal);
      else if (kind === 'zip') await this.unzip(staged.path, dest, signal);
      else await this.unxz(kind, staged.path, dest, signal);
      return { staged: await stagedFileAt(dest) };
    } catch (err) {
      await removeWorkFile(dest);
      throw describe(err, kind, signal);
    }
  }

  private async gunzip(source: string, dest: string, signal: AbortSignal): Promise<void> {
    // Gunzip reads concatenated members too, as Python's gzip module does.
    await pipeline(createReadStream(source), zlib.createGunzip(), new SizeCap(this.options.maxBytes), createWriteStream(dest), { signal });
  }

  private async unzip(source: string, dest: string, signal: AbortSignal): Promise<void> {
    const member = await readZipMember(source);
    if (member.uncompressedSize > this.options.maxBytes) throw overCap(this.options.maxBytes);
    const input =
      member.compressedSize === 0 ? Readable.from([]) : createReadStream(source, { start: member.dataOffset, end: member.dataOffset + member.compressedSize - 1 });
    const check = new SizeCap(this.options.maxBytes, true);
    const stages = member.method === 8 ? [input, zlib.createInflateRaw(), check] : [input, check];
    await pipeline([...stages, createWriteStream(dest)], { signal });
    // The central directory's size and CRC are the archive's promise; a member that breaks it is corrupt.
    if (check.total !== member.uncompressedSize) throw new ImportPluginError(`ZIP member '${member.name}' decompressed to ${check.total} bytes, not the ${member.uncompressedSize} its archive declares`);
    if (check.crc !== member.crc32) throw new ImportPluginError(`ZIP member '${member.name}' fails its CRC-32 check`);
  }

  /** xz and lzma: Node has no decoder, so xz-utils' `xz` decodes, streaming into the cap. */
  private async unxz(kind: 'xz' | 'lzma', source: string, dest: string, signal: AbortSignal): Promise<void> {
    const local = new AbortController();
    const onAbort = () => local.abort(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      const run: LimitedRun = { limits: XZ_LIMITS, signal: local.signal };
      const child = spawnLimited('xz', ['--decompress', '--stdout', `--format=${kind === 'xz' ? 'xz' : 'lzma'}`, `--memlimit-decompress=${XZ_MEMLIMIT}`, '--', source], run);
      const exit = finished(child, 'xz', run, { collectStdout: false, hide: [source] });
      // A copy that fails (the cap, a full disk) kills xz at once rather than letting it run on.
      const copy = pipeline(child.stdout!, new SizeCap(this.options.maxBytes), createWriteStream(dest)).catch((err: unknown) => {
        local.abort(err);
        throw err;
      });
      const [copied, exited] = await Promise.allSettled([copy, exit]);
      if (copied.status === 'rejected') throw copied.reason;
      if (exited.status === 'rejected') throw exited.reason;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** Counts the bytes flowing through and fails the stream once they pass `max`; optionally keeps their CRC-32. */
class SizeCap extends Transform {
  total = 0;
  crc = 0;

  constructor(
    private readonly max: number,
    private readonly withCrc = false,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.total += chunk.length;
    if (this.total > this.max) return callback(overCap(this.max));
    if (this.withCrc) this.crc = zlib.crc32(chunk, this.crc);
    callback(null, chunk);
  }
}

function overCap(max: number): ImportPluginError {
  return new ImportPluginError(`Decompressed image is larger than the size cap of ${max} bytes`);
}

async function readHead(file: string): Promise<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(head, 0, HEAD_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** A decoder's complaint becomes the import's message; a cancelled import keeps its abort reason. */
function describe(err: unknown, kind: Compression, signal: AbortSignal): unknown {
  if (signal.aborted) return signal.reason;
  if (err instanceof ImportPluginError) return err;
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && e.code.startsWith('Z_')) return new ImportPluginError(`Error decompressing image (${kind}): ${e.message}`);
  return err;
}
