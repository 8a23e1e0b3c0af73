import fs from 'node:fs/promises';

/**
 * Which disk format's signature a file that should be plain raw (or an ISO) carries. qemu-img
 * opened with `-f raw` never looks inside the bytes, so it cannot tell that "raw" data is
 * really a qcow2 with a backing file, or that a conversion to raw produced one (a guest disk
 * holding an image of its own). Glance re-inspects for these two cases; this is the small
 * part of that inspection the conversion plugin needs: the magic numbers of the formats
 * qemu-img would interpret, at their fixed places.
 */
const AT_START: readonly { format: string; offset: number; magic: Buffer }[] = [
  { format: 'qcow2', offset: 0, magic: Buffer.from([0x51, 0x46, 0x49, 0xfb]) },
  { format: 'qed', offset: 0, magic: Buffer.from('QED\0', 'latin1') },
  { format: 'vmdk', offset: 0, magic: Buffer.from('KDMV', 'latin1') },
  { format: 'vmdk', offset: 0, magic: Buffer.from('COWD', 'latin1') },
  { format: 'vmdk', offset: 0, magic: Buffer.from('# Disk DescriptorFile', 'latin1') },
  { format: 'vhdx', offset: 0, magic: Buffer.from('vhdxfile', 'latin1') },
  { format: 'vhd', offset: 0, magic: Buffer.from('conectix', 'latin1') },
  { format: 'vdi', offset: 0x40, magic: Buffer.from([0x7f, 0x10, 0xda, 0xbe]) },
  { format: 'luks', offset: 0, magic: Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]) },
  { format: 'parallels', offset: 0, magic: Buffer.from('WithoutFreeSpace', 'latin1') },
  { format: 'parallels', offset: 0, magic: Buffer.from('WithouFreSpacExt', 'latin1') },
  // ISO 9660's primary volume descriptor, at 32 KiB + 1.
  { format: 'iso', offset: 0x8001, magic: Buffer.from('CD001', 'latin1') },
];
const HEAD_BYTES = 0x8001 + 5;
/** A fixed VHD keeps its only header as a 512-byte footer. */
const VHD_FOOTER = Buffer.from('conectix', 'latin1');

/** The formats whose signatures `file` carries (empty for plain data). */
export async function sniffFormats(file: string): Promise<string[]> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    await fh.read(head, 0, head.length, 0);
    const found = new Set<string>();
    for (const s of AT_START) {
      if (head.length >= s.offset + s.magic.length && head.subarray(s.offset, s.offset + s.magic.length).equals(s.magic)) found.add(s.format);
    }
    if (size >= 512) {
      const tail = Buffer.alloc(VHD_FOOTER.length);
      await fh.read(tail, 0, tail.length, size - 512);
      if (tail.equals(VHD_FOOTER)) found.add('vhd');
    }
    return [...found];
  } finally {
    await fh.close();
  }
}

/**
 * What a qcow2 header says about files outside the image, read before qemu-img opens it: qemu
 * opens an external data file (and, for some commands, a backing file) as it opens the image,
 * so a hostile header must be refused before, not after. Null when the header names neither.
 */
export async function qcow2ExternalFiles(file: string): Promise<'backing file' | 'data-file' | null> {
  const header = await readAt(file, 0, 80);
  if (header.length < 16 || header.readUInt32BE(0) !== 0x514649fb) return null;
  if (header.readBigUInt64BE(8) !== 0n) return 'backing file';
  // Version 3's incompatible features, bit 2: an external data file.
  if (header.readUInt32BE(4) >= 3 && header.length >= 80 && (header.readBigUInt64BE(72) & 4n) !== 0n) return 'data-file';
  return null;
}

/**
 * A VMDK that is a text descriptor (not a sparse file with its descriptor inside) names other
 * files as its extents, which qemu-img opens at once; returns its createType ('' when it has
 * none), or null for any other file.
 */
export async function vmdkTextDescriptorType(file: string): Promise<string | null> {
  const head = await readAt(file, 0, 64 * 1024);
  if (!head.subarray(0, DESCRIPTOR.length).equals(DESCRIPTOR)) return null;
  return /^\s*createType\s*=\s*"([^"]*)"/m.exec(head.toString('latin1'))?.[1] ?? '';
}
const DESCRIPTOR = Buffer.from('# Disk DescriptorFile', 'latin1');

async function readAt(file: string, offset: number, length: number): Promise<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
