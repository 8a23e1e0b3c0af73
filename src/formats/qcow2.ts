import { Probe, safeU64 } from './probe.js';

const MAGIC = Buffer.from('QFI\xfb', 'latin1');
/** Incompatible feature bits qemu knows and this check allows: dirty, corrupt, external data file (refused on its own), compression type. */
const KNOWN_INCOMPATIBLE = 0b1111n;
const DATA_FILE_BIT = 1n << 2n;

/**
 * QEMU copy-on-write v2/v3 (big-endian header: version at 4, backing file offset at 8, size at
 * 24, incompatible features at 72 in v3). A backing file or an external data file makes qemu open
 * another path named by the image, so either refuses the image; so do versions and feature bits
 * this check does not know, whose meaning it cannot vouch for.
 */
export class Qcow2Probe extends Probe {
  readonly format = 'qcow2';

  constructor() {
    super();
    this.want(0, 4, 'qcow2 magic', (magic) => {
      if (!magic.equals(MAGIC)) return this.reject();
      this.matched = true;
      this.want(4, 28, 'qcow2 header', (h) => this.header(h));
    });
  }

  private header(h: Buffer): void {
    // h starts at offset 4.
    const version = h.readUInt32BE(0);
    if (h.readBigUInt64BE(4) !== 0n) this.fail('backing_file', 'Image has a backing file');
    this.virtualSize = safeU64(h.readBigUInt64BE(20));
    if (this.virtualSize === null) this.fail('header', 'virtual size out of range');
    if (version === 3) {
      this.want(72, 8, 'qcow2 v3 feature bits', (f) => {
        const features = f.readBigUInt64BE(0);
        if (features & DATA_FILE_BIT) this.fail('data_file', 'Image has data_file set');
        if (features & ~KNOWN_INCOMPATIBLE) this.fail('unknown_features', 'Unknown QCOW2 features found');
        this.stop();
      });
    } else {
      if (version !== 2) this.fail('unknown_features', `Unsupported qcow2 version ${version}`);
      this.stop();
    }
  }
}
