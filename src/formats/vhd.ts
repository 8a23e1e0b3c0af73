import { Probe, safeU64 } from './probe.js';

const MAGIC = Buffer.from('conectix', 'latin1');

/**
 * Microsoft VHD (qemu's vpc), dynamic: a copy of the 512-byte footer at the start, its
 * "original size" a big-endian u64 at 40. A fixed VHD has its footer only at the end and reads
 * as raw — to qemu's probe as well.
 */
export class VhdProbe extends Probe {
  readonly format = 'vhd';

  constructor() {
    super();
    this.want(0, 8, 'vhd cookie', (magic) => {
      if (!magic.equals(MAGIC)) return this.reject();
      this.matched = true;
      this.want(40, 8, 'vhd footer', (size) => {
        this.virtualSize = safeU64(size.readBigUInt64BE(0));
        if (this.virtualSize === null) this.fail('header', 'virtual size out of range');
        this.stop();
      });
    });
  }
}
