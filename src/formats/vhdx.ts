import { Probe, safeU64 } from './probe.js';

const MAGIC = Buffer.from('vhdxfile', 'latin1');
const REGION_TABLE_AT = 0x30000;
const METADATA_REGION = guid('8B7CA206-4790-4B9A-B8FE-575F050F886E');
const VIRTUAL_DISK_SIZE = guid('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
/** The region and metadata tables hold at most 2047 entries (VHDX spec; qemu's limit too). */
const MAX_ENTRIES = 2047;

/**
 * Microsoft VHDX: file identifier `vhdxfile`; the region table at 192 KiB points to the metadata
 * region, whose table points to the VirtualDiskSize item (u64 LE). Each step asks only for the
 * table or item it needs next; a pointer behind what has already streamed past (which no valid
 * VHDX has: regions follow the headers) leaves the image malformed (Probe.want), never a second read.
 */
export class VhdxProbe extends Probe {
  readonly format = 'vhdx';

  constructor() {
    super();
    this.want(0, 8, 'vhdx file identifier', (magic) => {
      if (!magic.equals(MAGIC)) return this.reject();
      this.matched = true;
      this.want(REGION_TABLE_AT, 16, 'vhdx region table header', (h) => this.regionTable(h));
    });
  }

  private broken(reason: string): void {
    this.fail('header', reason);
    this.stop();
  }

  private regionTable(h: Buffer): void {
    if (h.toString('latin1', 0, 4) !== 'regi') return this.broken('VHDX region table signature not found');
    const count = h.readUInt32LE(8);
    if (count === 0 || count > MAX_ENTRIES) return this.broken(`VHDX region table has ${count} entries (1 to ${MAX_ENTRIES} allowed)`);
    this.want(REGION_TABLE_AT + 16, count * 32, 'vhdx region table', (entries) => {
      for (let i = 0; i < count; i++) {
        const e = entries.subarray(i * 32, i * 32 + 32);
        if (!e.subarray(0, 16).equals(METADATA_REGION)) continue;
        const at = safeU64(e.readBigUInt64LE(16));
        if (at === null) return this.broken('VHDX metadata region offset out of range');
        this.want(at, 32, 'vhdx metadata table header', (mh) => this.metadataTable(at, mh));
        return;
      }
      this.broken('VHDX metadata region not found');
    });
  }

  private metadataTable(at: number, h: Buffer): void {
    if (h.toString('latin1', 0, 8) !== 'metadata') return this.broken('VHDX metadata table signature not found');
    const count = h.readUInt16LE(10);
    if (count === 0 || count > MAX_ENTRIES) return this.broken(`VHDX metadata table has ${count} entries (1 to ${MAX_ENTRIES} allowed)`);
    this.want(at + 32, count * 32, 'vhdx metadata table', (entries) => {
      for (let i = 0; i < count; i++) {
        const e = entries.subarray(i * 32, i * 32 + 32);
        if (!e.subarray(0, 16).equals(VIRTUAL_DISK_SIZE)) continue;
        const item = at + e.readUInt32LE(16);
        this.want(item, 8, 'vhdx virtual disk size', (v) => {
          this.virtualSize = safeU64(v.readBigUInt64LE(0));
          if (this.virtualSize === null) this.fail('header', 'virtual size out of range');
          this.stop();
        });
        return;
      }
      this.broken('VHDX virtual disk size not found in the metadata table');
    });
  }
}

/** A GUID's on-disk bytes (Microsoft order: the first three fields little-endian). */
function guid(text: string): Buffer {
  const hex = text.replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}
