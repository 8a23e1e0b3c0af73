import { Probe } from './probe.js';

const MAGIC = Buffer.from('LUKS\xba\xbe', 'latin1');
const SECTOR = 512;

/**
 * LUKS encrypted volume (big-endian header). Only version 1 is accepted, as in Glance: qemu reads
 * no other. The payload starts `payload_offset` sectors in (u32 at 104); the virtual size is
 * what follows it.
 */
export class LuksProbe extends Probe {
  readonly format = 'luks';
  private payloadOffset: number | null = null;

  constructor() {
    super();
    this.want(0, 6, 'luks magic', (magic) => {
      if (!magic.equals(MAGIC)) return this.reject();
      this.matched = true;
      this.want(6, 2, 'luks header', (v) => {
        const version = v.readUInt16BE(0);
        if (version !== 1) {
          this.fail('version', `LUKS version ${version} is not supported`);
          return this.stop();
        }
        this.want(104, 4, 'luks v1 header', (p) => {
          this.payloadOffset = p.readUInt32BE(0) * SECTOR;
          this.stop();
        });
      });
    });
  }

  protected override conclude(size: number): void {
    if (this.matched && this.payloadOffset !== null && size >= this.payloadOffset) this.virtualSize = size - this.payloadOffset;
  }
}
