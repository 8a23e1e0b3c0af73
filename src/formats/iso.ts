import { Probe } from './probe.js';

const DESCRIPTOR_AT = 32 * 1024;
const IDENTIFIERS = new Set(['CD001', 'NSR02', 'NSR03']);

/**
 * ISO 9660 / UDF: the first volume descriptor sits after a 32 KiB system area, its identifier at
 * bytes 1–5. A primary volume descriptor (type 1) gives the size: volume space size (u32 LE at
 * 80) × logical block size (u16 LE at 128).
 */
export class IsoProbe extends Probe {
  readonly format = 'iso';

  constructor() {
    super();
    this.want(DESCRIPTOR_AT, 6, 'iso volume descriptor identifier', (id) => {
      if (!IDENTIFIERS.has(id.toString('latin1', 1, 6))) return this.reject();
      this.matched = true;
      if (id[0] !== 1) return this.stop();
      this.want(DESCRIPTOR_AT + 80, 52, 'iso primary volume descriptor', (pvd) => {
        this.virtualSize = pvd.readUInt32LE(0) * pvd.readUInt16LE(48);
        this.stop();
      });
    });
  }
}
