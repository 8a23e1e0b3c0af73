/**
 * Real disk images for the format-inspection tests: written by qemu-img where it can write the
 * format, crafted byte by byte where it cannot (ISO 9660, MBR/GPT, LUKS2) or where the point is
 * a hostile header qemu-img would never write.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Why the qemu-img tests are skipped, or false when qemu-img is there. */
export const NO_QEMU: string | false =
  spawnSync('qemu-img', ['--version']).status === 0 ? false : 'qemu-img is missing (Debian qemu-utils; scripts/install-test-deps.sh installs it)';

export function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** qemu-img's own idea of an image: format and virtual size. */
export function qemuInfo(file: string, format?: string): { format: string; virtualSize: number } {
  const info = JSON.parse(qemuImg('info', '--output=json', ...(format ? ['-f', format] : []), file)) as { format: string; 'virtual-size': number };
  return { format: info.format, virtualSize: info['virtual-size'] };
}

/** Deterministic pseudo-random bytes (mulberry32), so a failing case can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBuffer(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

export interface RealImages {
  dir: string;
  /** name → file; each name says the format and variant (`qcow2-v2`, `vmdk-streamOptimized`, …). */
  files: Record<string, { file: string; format: string; qemuFormat: string }>;
}

/**
 * One image per format and variant qemu-img writes, each converted from the same 3 MiB of
 * non-zero data (so the images hold real clusters/grains, not only headers).
 */
export function makeRealImages(dir: string): RealImages {
  const source = path.join(dir, 'source.raw');
  fs.writeFileSync(source, randomBuffer(prng(7), 3 * 1024 * 1024 + 4096));
  const files: RealImages['files'] = {};
  const convert = (name: string, format: string, qemuFormat: string, opts: string[] = []) => {
    const file = path.join(dir, `${name}.img`);
    qemuImg('convert', '-f', 'raw', '-O', qemuFormat, ...opts, source, file);
    files[name] = { file, format, qemuFormat };
  };
  convert('raw', 'raw', 'raw');
  convert('qcow2-v2', 'qcow2', 'qcow2', ['-o', 'compat=0.10']);
  convert('qcow2-v3', 'qcow2', 'qcow2', ['-o', 'compat=1.1']);
  convert('vmdk-monolithicSparse', 'vmdk', 'vmdk', ['-o', 'subformat=monolithicSparse']);
  convert('vmdk-streamOptimized', 'vmdk', 'vmdk', ['-o', 'subformat=streamOptimized']);
  convert('vhd', 'vhd', 'vpc');
  convert('vhdx', 'vhdx', 'vhdx');
  convert('vdi', 'vdi', 'vdi');
  const luks = path.join(dir, 'luks.img');
  // qemu-img times its key derivation by the thread's CPU time; on a busy machine the first round
  // can measure 0 ms ("Unable to get accurate CPU usage"): that is qemu-img's clock, not the image.
  for (let attempt = 1; ; attempt++) {
    try {
      qemuImg('create', '-f', 'luks', '--object', 'secret,id=s0,data=secret', '-o', 'key-secret=s0', luks, '1M');
      break;
    } catch (err) {
      if (attempt === 5 || !/accurate CPU usage/.test(String((err as { stderr?: string }).stderr))) throw err;
    }
  }
  files.luks = { file: luks, format: 'luks', qemuFormat: 'luks' };
  return { dir, files };
}

/**
 * An ISO 9660 image: 32 KiB system area, a primary volume descriptor (`CD001`, volume space
 * size and logical block size in both byte orders), the set terminator, then zeros up to the
 * declared size. `systemArea` fills the first 32 KiB (e.g. an isohybrid MBR).
 */
export function isoImage(blocks = 64, systemArea?: Buffer): Buffer {
  const b = Buffer.alloc(blocks * 2048);
  if (systemArea) systemArea.copy(b, 0, 0, Math.min(systemArea.length, 32768));
  const pvd = b.subarray(32768, 34816);
  pvd[0] = 1;
  pvd.write('CD001', 1, 'latin1');
  pvd[6] = 1;
  pvd.write('OCELLUS'.padEnd(32), 8, 'latin1');
  pvd.write('TESTVOL'.padEnd(32), 40, 'latin1');
  pvd.writeUInt32LE(blocks, 80);
  pvd.writeUInt32BE(blocks, 84);
  pvd.writeUInt16LE(2048, 128);
  pvd.writeUInt16BE(2048, 130);
  const term = b.subarray(34816, 36864);
  term[0] = 255;
  term.write('CD001', 1, 'latin1');
  term[6] = 1;
  return b;
}

export interface PartitionEntry {
  boot?: number;
  type: number;
  chs?: [number, number, number];
  lba: number;
  sectors: number;
}

/** A 512-byte MBR with these entries (0x55AA signature). */
export function mbr(entries: PartitionEntry[]): Buffer {
  const b = Buffer.alloc(512);
  entries.forEach((e, i) => {
    const at = 446 + 16 * i;
    b[at] = e.boot ?? 0;
    const [h, s, c] = e.chs ?? [0, 2, 0];
    b[at + 1] = h;
    b[at + 2] = s;
    b[at + 3] = c;
    b[at + 4] = e.type;
    b[at + 5] = 0xfe;
    b[at + 6] = 0xff;
    b[at + 7] = 0xff;
    b.writeUInt32LE(e.lba, at + 8);
    b.writeUInt32LE(e.sectors, at + 12);
  });
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** A disk of `sectors` sectors starting with this MBR (and a GPT header when protective). */
export function disk(first: Buffer, sectors = 2048): Buffer {
  const b = Buffer.alloc(sectors * 512);
  first.copy(b);
  if (first[446 + 4] === 0xee) b.write('EFI PART', 512, 'latin1');
  return b;
}

/** A LUKS header of the given version (v1 layout: payload offset at 104, in sectors) and a payload. */
export function luksImage(version: number, payloadSectors = 8, payloadBytes = 4096): Buffer {
  const b = Buffer.alloc(payloadSectors * 512 + payloadBytes);
  b.write('LUKS\xba\xbe', 0, 'latin1');
  b.writeUInt16BE(version, 6);
  b.write('aes', 8, 'latin1');
  b.write('xts-plain64', 40, 'latin1');
  b.write('sha256', 72, 'latin1');
  b.writeUInt32BE(payloadSectors, 104);
  return b;
}

/** A copy of a sparse VMDK with its embedded descriptor (at sector 1) replaced by `text`. */
export function withDescriptor(vmdk: Buffer, text: string): Buffer {
  const b = Buffer.from(vmdk);
  const sectors = Number(b.readBigUInt64LE(36));
  const area = b.subarray(512, 512 + sectors * 512);
  if (text.length > area.length) throw new Error('descriptor too long for the area');
  area.fill(0);
  area.write(text, 0, 'latin1');
  return b;
}

/** A qemu-style monolithicSparse descriptor with the given createType and extent lines. */
export function descriptorText(createType: string, extents: string[], extra = ''): string {
  return [
    '# Disk DescriptorFile',
    'version=1',
    'CID=12345678',
    'parentCID=ffffffff',
    `createType="${createType}"`,
    extra,
    '',
    '# Extent description',
    ...extents,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.virtualHWVersion = "4"',
    'ddb.geometry.cylinders = "6"',
    'ddb.geometry.heads = "16"',
    'ddb.geometry.sectors = "63"',
    'ddb.adapterType = "ide"',
    '',
  ].join('\n');
}
