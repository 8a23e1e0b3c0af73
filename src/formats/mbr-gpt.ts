import { Probe } from './probe.js';

const PARTITION_TABLE = 446;
const PROTECTIVE = 0xee;
const MEDIA_FIXED_DISK = 0xf8;

/**
 * A disk with an MBR (and possibly a GPT behind its protective entry) — Glance calls it `gpt`.
 * Detected by the 0x55AA signature at 510, unless the sector is a FAT boot sector (two FATs, a
 * fixed-disk media byte), which carries the same signature. The safety check `mbr` holds the
 * partition table to what a real disk has, so a crafted MBR cannot pass for one: boot flags 0x00
 * or 0x80 only; a protective entry starting at CHS 0/2/0 and LBA 1, and alone; at least one
 * partition. Its virtual size is the stream's length.
 */
export class MbrGptProbe extends Probe {
  readonly format = 'gpt';

  constructor() {
    super();
    this.want(0, 512, 'master boot record', (mbr) => {
      const isFat = mbr[0x10] === 2 && mbr[0x15] === MEDIA_FIXED_DISK;
      if (mbr[510] !== 0x55 || mbr[511] !== 0xaa || isFat) return this.reject();
      this.matched = true;
      const problem = checkPartitions(mbr);
      if (problem) this.fail('mbr', problem);
      this.stop();
    });
  }

  protected override conclude(size: number): void {
    if (this.matched) this.virtualSize = size;
  }
}

function checkPartitions(mbr: Buffer): string | null {
  const used: number[] = [];
  let protective = false;
  for (let i = 0; i < 4; i++) {
    const e = PARTITION_TABLE + 16 * i;
    const boot = mbr[e]!;
    const type = mbr[e + 4]!;
    if (boot !== 0x00 && boot !== 0x80) return `MBR PTE ${i} has invalid boot flag`;
    if (type !== 0) used.push(i);
    if (type === PROTECTIVE) {
      protective = true;
      if (mbr[e + 1] !== 0x00 || mbr[e + 2] !== 0x02 || mbr[e + 3] !== 0x00) return 'GPT MBR has invalid start CHS';
      if (mbr.readUInt32LE(e + 8) !== 1) return 'GPT MBR has invalid start LBA';
    }
  }
  if (protective && (used.length !== 1 || used[0] !== 0)) return 'GPT MBR defines invalid extra partitions';
  if (used.length === 0) return 'GPT MBR has no partitions defined';
  return null;
}
