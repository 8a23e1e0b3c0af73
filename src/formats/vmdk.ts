import { Probe, safeU64 } from './probe.js';
import type { Region } from './regions.js';

const SECTOR = 512;
/** Where qemu (and every single-file VMDK writer) puts the embedded descriptor, and qemu's limit on its size. */
const DESCRIPTOR_AT = 0x200;
const DESCRIPTOR_MAX = (1 << 20) - 1;
const GD_AT_END = 0xffffffffffffffffn;
/** Stream-optimized images end with a footer marker, the footer (a copy of the header) and an end-of-stream marker. */
const FOOTER_BYTES = 3 * SECTOR;
const MARKER_FOOTER = 3;
/** qemu's format probe reads this much of the head of a file when it looks for a text descriptor. */
const TEXT_PROBE_BYTES = 2048;
const EXTENT_ACCESS = new Set(['rw', 'rdonly', 'noaccess']);

interface SparseHeader {
  version: number;
  descriptorSector: bigint;
  descriptorSectors: bigint;
  gdOffset: bigint;
}

/**
 * VMware VMDK. Accepted shape: a single file with a sparse header (`KDMV`) and its descriptor
 * embedded at sector 1. The descriptor is read line by line and every line must be one this
 * check understands (comment, `ddb…`, `key=value`, or an extent `RW|RDONLY|NOACCESS …`); an
 * extent naming a path (`/`) or a `parentFileNameHint` (qemu opens it as a backing file) refuses
 * the image, as does a descriptor without extents. The createType is reported as the subformat
 * and judged against `vmdk_allowed_types` by the caller. A stream-optimized image whose grain
 * directory is "at the end" has its footer checked against the header. A descriptor-only VMDK
 * (text naming extent files) and the old ESX `COWD` sparse format are recognised and refused.
 */
export class VmdkProbe extends Probe {
  readonly format = 'vmdk';
  private header: SparseHeader | null = null;
  private footerWanted = false;

  constructor() {
    super();
    this.want(0, 64, 'vmdk sparse header', (h) => this.start(h), true);
    this.want(0, TEXT_PROBE_BYTES, 'vmdk text descriptor', (head) => this.textHead(head), true);
  }

  private start(h: Buffer): void {
    const magic = h.toString('latin1', 0, 4);
    if (magic === 'KDMV') {
      this.matched = true;
      this.forget('vmdk text descriptor');
      this.sparseHeader(h);
    } else if (magic === 'COWD') {
      this.cowd();
    } else if (!isText(h.subarray(0, 4))) {
      this.reject();
    } // else: text, maybe a descriptor file; the text region decides.
  }

  private cowd(): void {
    this.matched = true;
    this.fail('descriptor', 'VMDK COWD (ESX sparse) images are not supported');
    this.stop();
  }

  private sparseHeader(h: Buffer): void {
    const header = parseSparseHeader(h);
    this.header = header;
    if (header.version < 1 || header.version > 3) {
      this.fail('header', `Unsupported VMDK version ${header.version}`);
      return this.stop();
    }
    const sectors = safeU64(h.readBigUInt64LE(12));
    this.virtualSize = sectors !== null && sectors <= Number.MAX_SAFE_INTEGER / SECTOR ? sectors * SECTOR : null;
    if (this.virtualSize === null) this.fail('header', 'virtual size out of range');
    if (header.descriptorSector * BigInt(SECTOR) !== BigInt(DESCRIPTOR_AT)) {
      this.fail('descriptor', 'Wrong descriptor location');
      return this.stop();
    }
    if (header.descriptorSectors === 0n) {
      this.fail('descriptor', 'No descriptor found');
      return this.stop();
    }
    const size = header.descriptorSectors * BigInt(SECTOR) > BigInt(DESCRIPTOR_MAX) ? DESCRIPTOR_MAX : Number(header.descriptorSectors) * SECTOR;
    if (header.gdOffset === GD_AT_END) {
      this.footerWanted = true;
      this.keepTail(FOOTER_BYTES);
    }
    this.want(DESCRIPTOR_AT, size, 'vmdk embedded descriptor', (d) => {
      const nul = d.indexOf(0);
      this.descriptor(nul === -1 ? d : d.subarray(0, nul));
      if (!this.footerWanted) this.stop();
    });
  }

  private descriptor(bytes: Buffer): void {
    if (bytes.some((b) => b > 0x7f)) return this.fail('descriptor', 'VMDK descriptor is not ASCII text');
    const text = bytes.toString('latin1');
    const lower = text.toLowerCase();
    // qemu takes the first "createType" anywhere in the text (comments included); accept only a
    // descriptor where there is exactly one, written as qemu reads it, so both read the same type.
    const type = /createType="([^"\n]{0,63})"/.exec(text);
    if (lower.split('createtype').length !== 2 || !type) {
      this.fail('descriptor', 'VMDK descriptor has no single createType');
    } else {
      this.subformat = type[1]!;
    }
    // qemu opens parentFileNameHint (found anywhere in the descriptor) as a backing file.
    if (lower.includes('parentfilenamehint')) this.fail('backing_file', 'VMDK names a parent image (parentFileNameHint)');
    let extents = 0;
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.toLowerCase().startsWith('ddb')) continue;
      const eq = line.indexOf('=');
      if (eq > 0 && !line.slice(0, eq).includes(' ')) continue; // a header field
      if (EXTENT_ACCESS.has(line.split(' ')[0]!.toLowerCase())) {
        extents++;
        if (line.includes('/')) return this.fail('descriptor', 'Invalid extent filenames found');
        continue;
      }
      return this.fail('descriptor', 'Invalid VMDK descriptor data');
    }
    if (extents === 0) this.fail('descriptor', 'No extents found');
  }

  /** The head of a file that starts with text: qemu reads it as a descriptor-only VMDK if, after comments, it says `version=N`. */
  private textHead(head: Buffer): void {
    const text = head.toString('latin1');
    let versionLine = false;
    for (const raw of text.split('\n')) {
      const line = raw.replace(/^ +/, '');
      if (line === '' || line === '\r' || line.startsWith('#')) continue;
      versionLine = /^version=[123]\r?$/.test(line);
      break;
    }
    const createType = isText(head) && /createtype="/i.test(text);
    if (!versionLine && !createType) return this.reject();
    this.matched = true;
    this.subformat = /createType="([^"\n]{0,63})"/.exec(text)?.[1] ?? null;
    this.fail('descriptor_file', 'A descriptor-only VMDK names its data as external extent files; only single-file VMDK images are accepted');
    this.stop();
  }

  protected override conclude(_size: number, missing: readonly Region[]): void {
    // A stream shorter than the header or the text probe window: judge the prefix that exists.
    const head = missing.find((r) => r.label === 'vmdk sparse header')?.bytes();
    if (head && head.length >= 4) {
      const magic = head.toString('latin1', 0, 4);
      if (magic === 'COWD') return this.cowd();
      if (magic === 'KDMV') {
        this.matched = true;
        return this.fail('header', `the image ends inside its vmdk sparse header (${head.length} of 64 bytes)`);
      }
    }
    const text = missing.find((r) => r.label === 'vmdk text descriptor');
    if (!this.matched && text && text.filled > 0) return this.textHead(text.bytes());
    if (!this.footerWanted || !this.matched || !this.header) return;
    const tail = this.tailBytes();
    if (!tail) return this.fail('footer', 'The image is too short for the footer its header announces');
    const problem = checkFooter(this.header, tail);
    if (problem) this.fail('footer', problem);
  }
}

function parseSparseHeader(h: Buffer): SparseHeader {
  return {
    version: h.readUInt32LE(4),
    descriptorSector: h.readBigUInt64LE(28),
    descriptorSectors: h.readBigUInt64LE(36),
    gdOffset: h.readBigUInt64LE(56),
  };
}

function isZero(b: Buffer): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

function checkFooter(header: SparseHeader, tail: Buffer): string | null {
  const marker = tail.subarray(0, SECTOR);
  if (marker.readUInt32LE(8) !== 0 || marker.readUInt32LE(12) !== MARKER_FOOTER || !isZero(marker.subarray(16))) return 'Footer marker is invalid';
  const footerSector = tail.subarray(SECTOR, 2 * SECTOR);
  if (footerSector.toString('latin1', 0, 4) !== 'KDMV') return 'Header and footer signature do not match';
  const footer = parseSparseHeader(footerSector);
  if (footer.version !== header.version) return 'Header and footer versions do not match';
  if (footer.descriptorSector !== header.descriptorSector || footer.descriptorSectors !== header.descriptorSectors) return 'Footer specifies a different descriptor than header';
  if (footer.gdOffset === GD_AT_END) return 'Footer indicates another footer';
  if (!isZero(tail.subarray(2 * SECTOR))) return 'End-of-stream marker is invalid';
  return null;
}

/** Printable ASCII and whitespace only. */
function isText(b: Buffer): boolean {
  for (const x of b) if (!((x >= 0x20 && x < 0x7f) || x === 0x09 || x === 0x0a || x === 0x0d)) return false;
  return true;
}
