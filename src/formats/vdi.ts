import { Probe, safeU64 } from './probe.js';

const SIGNATURE = 0xbeda107f;

/** VirtualBox disk image: signature u32 LE at 0x40, disk size u64 LE at 0x170. */
export class VdiProbe extends Probe {
  readonly format = 'vdi';

  constructor() {
    super();
    this.want(0x40, 4, 'vdi signature', (sig) => {
      if (sig.readUInt32LE(0) !== SIGNATURE) return this.reject();
      this.matched = true;
      this.want(0x170, 8, 'vdi header', (size) => {
        this.virtualSize = safeU64(size.readBigUInt64LE(0));
        if (this.virtualSize === null) this.fail('header', 'virtual size out of range');
        this.stop();
      });
    });
  }
}
