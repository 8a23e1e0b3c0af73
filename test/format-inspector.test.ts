import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { judgeInspection, type FormatCheckSettings } from '../src/domain/format-check.js';
import { UnsupportedMediaType } from '../src/domain/errors.js';
import { FormatInspector, type Inspection } from '../src/formats/inspector.js';
import { tempDir } from './support/harness.js';
import {
  descriptorText,
  disk,
  isoImage,
  luksImage,
  makeRealImages,
  mbr,
  NO_QEMU,
  prng,
  qemuImg,
  qemuInfo,
  randomBuffer,
  withDescriptor,
  type RealImages,
} from './support/disk-images.js';

const MiB = 1024 * 1024;

/** Feeds `data` in pieces of the sizes `next()` gives, checking the retained-bytes cap after each. */
function inspect(data: Buffer, next: () => number = () => data.length || 1): Inspection {
  const i = new FormatInspector();
  for (let off = 0; off < data.length; ) {
    const n = Math.max(1, next());
    i.feed(data.subarray(off, off + n));
    off += n;
    assert.ok(i.retainedBytes <= FormatInspector.MAX_RETAINED, `retained ${i.retainedBytes} bytes at offset ${off}`);
  }
  return i.finish();
}

/**
 * Where the formats keep their structures: headers (first 320 KiB: MBR, qcow2, VMDK descriptor,
 * ISO descriptor at 32 KiB, VHDX region table at 192 KiB), VHDX metadata (1–2 MiB in qemu's
 * layout), and footers (the last 4 KiB).
 */
function dense(size: number): [number, number][] {
  return [[0, 320 * 1024], [MiB, MiB + 128 * 1024], [2 * MiB, 2 * MiB + 128 * 1024], [Math.max(0, size - 4096), size]];
}

/** Pieces of `small` bytes over the structures and of up to `big` elsewhere (ending at the next structure). */
function overStructures(size: number, small: number, big: number): () => number {
  const windows = dense(size);
  let at = 0;
  return () => {
    let n = big;
    for (const [from, to] of windows) {
      if (at >= from && at < to) n = small;
      else if (from > at) n = Math.min(n, from - at);
    }
    at += n;
    return n;
  };
}

/** Chunkings that cut the stream everywhere it matters: single bytes and 7 bytes over the structures, 64 KiB, seeded random sizes. */
function chunkings(size: number): [string, () => () => number][] {
  const random = (seed: number, max: number) => () => {
    const r = prng(seed);
    return () => 1 + Math.floor(r() * max);
  };
  return [
    ['single bytes over the structures', () => overStructures(size, 1, 65536)],
    ['7 bytes over the structures, 4093 elsewhere', () => overStructures(size, 7, 4093)],
    ['64 KiB', () => () => 65536],
    ['random 1..100000 (seed 11)', random(11, 100_000)],
    ['random 1..600 (seed 5)', random(5, 600)],
  ];
}

/** The inspection must not depend on how the stream was cut. */
function inspectEveryWay(data: Buffer): Inspection {
  const whole = inspect(data);
  for (const [label, make] of chunkings(data.length)) assert.deepEqual(inspect(data, make()), whole, `chunked by ${label}`);
  return whole;
}

const SETTINGS: FormatCheckSettings = { requireImageFormatMatch: true, vmdkAllowedTypes: ['streamOptimized', 'monolithicSparse'], gptSafetyChecksNonfatal: [] };

function judge(i: Inspection, disk_format: string, s: Partial<FormatCheckSettings> = {}, container_format = 'bare') {
  const warnings: string[] = [];
  const virtualSize = judgeInspection(i, { disk_format, container_format }, { ...SETTINGS, ...s }, (m) => warnings.push(m));
  return { virtualSize, warnings };
}

function refused(i: Inspection, disk_format: string, pattern: RegExp, s: Partial<FormatCheckSettings> = {}) {
  assert.throws(() => judge(i, disk_format, s), (err: unknown) => err instanceof UnsupportedMediaType && err.status === 415 && pattern.test(err.message));
}

function patch(data: Buffer, at: number, bytes: number[] | Buffer): Buffer {
  const b = Buffer.from(data);
  Buffer.from(bytes).copy(b, at);
  return b;
}

let images: RealImages;
let dir: string;
const read = (name: string) => fs.readFileSync(images.files[name]!.file);

before(() => {
  dir = tempDir('ocellus-formats-');
  if (!NO_QEMU) images = makeRealImages(dir);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('images written by qemu-img', { skip: NO_QEMU }, () => {
  for (const name of ['raw', 'qcow2-v2', 'qcow2-v3', 'vmdk-monolithicSparse', 'vmdk-streamOptimized', 'vhd', 'vhdx', 'vdi', 'luks']) {
    test(`${name}: detected, virtual size as qemu-img says, safe — whatever the chunking`, () => {
      const { file, format, qemuFormat } = images.files[name]!;
      const data = fs.readFileSync(file);
      const i = inspectEveryWay(data);
      assert.equal(i.format, format);
      assert.deepEqual(i.alsoMatched, []);
      assert.deepEqual(i.unsafe, []);
      assert.equal(i.size, data.length);
      const q = qemuInfo(file, qemuFormat);
      // LUKS: qemu reports the payload, as the inspector does.
      assert.equal(i.virtualSize, q.virtualSize, `virtual size of ${name}`);
      if (format === 'vmdk') assert.equal(i.subformat, name.split('-')[1]);
      // Declared as what it is: accepted with that virtual size.
      assert.equal(judge(i, format).virtualSize, q.virtualSize);
    });
  }

  test('qcow2 with a backing file (qemu-img create -b) is refused: backing_file', () => {
    const file = path.join(dir, 'backed.qcow2');
    qemuImg('create', '-f', 'qcow2', '-b', images.files['qcow2-v3']!.file, '-F', 'qcow2', file);
    const i = inspectEveryWay(fs.readFileSync(file));
    assert.equal(i.format, 'qcow2');
    assert.deepEqual(i.failures.map((f) => f.check), ['backing_file']);
    refused(i, 'qcow2', /safety checks.*backing_file/);
    // Declared raw (the 2024 hole): still refused, the detected format's checks run.
    refused(i, 'raw', /safety checks.*backing_file/);
    refused(i, 'raw', /backing_file/, { requireImageFormatMatch: false });
  });

  test('qcow2 with an external data file (qemu-img create -o data_file) is refused: data_file', () => {
    const file = path.join(dir, 'datafile.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', `data_file=${path.join(dir, 'datafile.raw')}`, file, '1M');
    const i = inspectEveryWay(fs.readFileSync(file));
    assert.equal(i.format, 'qcow2');
    assert.ok(i.failures.some((f) => f.check === 'data_file'), i.unsafe.join('; '));
    refused(i, 'qcow2', /data_file/);
  });

  test('qcow2 with an unknown incompatible feature bit, or version 4, is refused: unknown_features', () => {
    const q3 = read('qcow2-v3');
    const unknown = inspectEveryWay(patch(q3, 72, [0x80, 0, 0, 0, 0, 0, 0, 0]));
    assert.deepEqual(unknown.failures.map((f) => f.check), ['unknown_features']);
    const dataBit = inspectEveryWay(patch(q3, 79, [q3[79]! | 0x04]));
    assert.deepEqual(dataBit.failures.map((f) => f.check), ['data_file']);
    const v4 = inspectEveryWay(patch(q3, 4, [0, 0, 0, 4]));
    assert.match(v4.unsafe.join(), /unknown_features: Unsupported qcow2 version 4/);
    refused(v4, 'qcow2', /unknown_features/);
  });

  test('qed is always refused', () => {
    const file = path.join(dir, 'x.qed');
    qemuImg('create', '-f', 'qed', file, '1M');
    const i = inspectEveryWay(fs.readFileSync(file));
    assert.equal(i.format, 'qed');
    assert.deepEqual(i.failures.map((f) => f.check), ['banned']);
    refused(i, 'raw', /banned/);
  });

  test('descriptor-only VMDKs (monolithicFlat, twoGbMaxExtentSparse) are refused', () => {
    for (const sub of ['monolithicFlat', 'twoGbMaxExtentSparse']) {
      const file = path.join(dir, `${sub}.vmdk`);
      qemuImg('create', '-f', 'vmdk', '-o', `subformat=${sub}`, file, '1M');
      const i = inspectEveryWay(fs.readFileSync(file));
      assert.equal(i.format, 'vmdk', sub);
      assert.equal(i.subformat, sub);
      refused(i, 'vmdk', /descriptor/);
      refused(i, 'raw', /descriptor/);
    }
  });

  test('a sparse VMDK whose embedded descriptor says another createType is refused by vmdk_allowed_types', () => {
    const flat = withDescriptor(read('vmdk-monolithicSparse'), descriptorText('monolithicFlat', ['RW 6144 FLAT "disk-flat.vmdk" 0']));
    const i = inspectEveryWay(flat);
    assert.deepEqual(i.unsafe, []);
    assert.equal(i.subformat, 'monolithicFlat');
    refused(i, 'vmdk', /vmdk_type: VMDK createType monolithicFlat is not allowed/);
    assert.equal(judge(i, 'vmdk', { vmdkAllowedTypes: ['monolithicFlat'] }).virtualSize, i.virtualSize);
    // An empty list allows no VMDK at all.
    refused(inspect(read('vmdk-monolithicSparse')), 'vmdk', /vmdk_type/, { vmdkAllowedTypes: [] });
  });

  test('VMDK extents naming paths, a parent image, stray lines or no extents are refused', () => {
    const base = read('vmdk-monolithicSparse');
    const cases: [string, string, RegExp][] = [
      ['absolute extent', descriptorText('monolithicSparse', ['RW 6144 SPARSE "/etc/passwd"']), /descriptor: Invalid extent filenames/],
      ['relative extent upwards', descriptorText('monolithicSparse', ['RW 6144 SPARSE "../x"']), /descriptor: Invalid extent filenames/],
      ['parentFileNameHint', descriptorText('monolithicSparse', ['RW 6144 SPARSE "x.vmdk"'], 'parentFileNameHint="base.vmdk"'), /backing_file: VMDK names a parent/],
      ['no extents', descriptorText('monolithicSparse', []), /descriptor: No extents found/],
      ['stray line', descriptorText('monolithicSparse', ['RW 6144 SPARSE "x.vmdk"'], 'what is this line'), /descriptor: Invalid VMDK descriptor data/],
      ['two createTypes', descriptorText('monolithicSparse', ['RW 6144 SPARSE "x.vmdk"'], '# createType="monolithicFlat"'), /descriptor: VMDK descriptor has no single createType/],
    ];
    for (const [label, text, pattern] of cases) {
      const i = inspectEveryWay(withDescriptor(base, text));
      assert.equal(i.format, 'vmdk', label);
      assert.match(i.unsafe.join('; '), pattern, label);
      refused(i, 'vmdk', pattern);
    }
    // The control: a clean descriptor passes.
    assert.deepEqual(inspect(withDescriptor(base, descriptorText('monolithicSparse', ['RW 6144 SPARSE "x.vmdk"']))).unsafe, []);
  });

  test('VMDK with the grain directory at the end: the footer must repeat the header', () => {
    const so = read('vmdk-streamOptimized');
    const header = Buffer.from(so.subarray(0, 512));
    const withFooter = (footerHeader: Buffer, eos = Buffer.alloc(512)) => {
      const marker = Buffer.alloc(512);
      marker.writeUInt32LE(3, 12); // MARKER_FOOTER
      const b = Buffer.concat([so, marker, footerHeader, eos]);
      b.writeBigUInt64LE(0xffffffffffffffffn, 56);
      return b;
    };
    const good = inspectEveryWay(withFooter(header));
    assert.deepEqual(good.unsafe, []);
    assert.equal(judge(good, 'vmdk').virtualSize, good.virtualSize);
    const otherVersion = patch(header, 4, [9, 0, 0, 0]);
    assert.match(inspectEveryWay(withFooter(otherVersion)).unsafe.join(), /footer: Header and footer versions do not match/);
    const footerAtEnd = patch(header, 56, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.match(inspect(withFooter(footerAtEnd)).unsafe.join(), /footer: Footer indicates another footer/);
    assert.match(inspect(withFooter(header, Buffer.alloc(512, 1))).unsafe.join(), /footer: End-of-stream marker is invalid/);
    // Header says "footer" but the stream has none.
    const none = patch(so, 56, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.match(inspect(none).unsafe.join(), /footer:/);
  });

  test('hostile VMDK header offsets: wrong descriptor place, a huge descriptor, huge capacity — bounded and refused', () => {
    const base = read('vmdk-monolithicSparse');
    const moved = inspectEveryWay(patch(base, 28, [5, 0, 0, 0, 0, 0, 0, 0]));
    assert.match(moved.unsafe.join(), /descriptor: Wrong descriptor location/);
    // A descriptor of 2^40 sectors: capped at 1 MiB, never more buffered.
    const huge = patch(base, 36, [0, 0, 0, 0, 0, 1, 0, 0]);
    const i = inspectEveryWay(huge);
    assert.equal(i.format, 'vmdk');
    const cap = inspect(Buffer.concat([huge, Buffer.alloc(2 * MiB)]), () => 4096);
    assert.equal(cap.format, 'vmdk');
    const size = inspect(patch(base, 12, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    assert.match(size.unsafe.join(), /virtual size out of range/);
  });

  test('VHDX with a broken region table, or a metadata region behind it, is malformed and refused', () => {
    const x = read('vhdx');
    const sig = inspectEveryWay(patch(x, 0x30000, Buffer.from('nope')));
    assert.match(sig.unsafe.join(), /header: VHDX region table signature not found/);
    refused(sig, 'vhdx', /safety checks/);
    // Point every region entry's offset to 4 KiB: behind the table, unreadable in one pass.
    const count = x.readUInt32LE(0x30008);
    let back: Buffer = Buffer.from(x);
    for (let e = 0; e < count; e++) back = patch(back, 0x30010 + e * 32 + 16, [0, 0x10, 0, 0, 0, 0, 0, 0]);
    assert.match(inspectEveryWay(back).unsafe.join(), /lies behind data already read/);
    // A metadata region far beyond the end: nothing buffered for it, and the image ends before it.
    let far: Buffer = Buffer.from(x);
    for (let e = 0; e < count; e++) far = patch(far, 0x30010 + e * 32 + 16, [0, 0, 0, 0, 0, 0, 0x10, 0]);
    assert.match(inspectEveryWay(far).unsafe.join(), /ends inside its vhdx metadata table header/);
  });

  test('polyglot: a qcow2 that is also an ISO is refused; neither format wins', () => {
    const q = read('qcow2-v3');
    const iso = isoImage(20);
    const poly = patch(q, 32768, iso.subarray(32768, 36864));
    const i = inspectEveryWay(poly);
    assert.equal(i.format, 'qcow2');
    assert.deepEqual(i.alsoMatched, ['iso']);
    refused(i, 'qcow2', /several formats \(qcow2, iso\)/);
    refused(i, 'iso', /several formats/);
    refused(i, 'raw', /several formats/);
    refused(i, 'raw', /several formats/, { requireImageFormatMatch: false });
  });

  test('truncated real images never throw; a matched header cut short is unsafe', () => {
    for (const name of ['qcow2-v3', 'vmdk-monolithicSparse', 'vhd', 'vhdx', 'vdi', 'luks']) {
      const data = read(name);
      const cut = { 'qcow2-v3': 20, 'vmdk-monolithicSparse': 40, vhd: 30, vhdx: 0x30008, vdi: 0x100, luks: 7 }[name]!;
      const i = inspectEveryWay(data.subarray(0, cut));
      assert.equal(i.format, images.files[name]!.format, name);
      assert.match(i.unsafe.join(), /header: the image ends inside its/, name);
      refused(i, images.files[name]!.format, /safety checks/);
    }
  });
});

describe('crafted images', () => {
  test('ISO 9660 (hand-made PVD): iso with blocks × block size', () => {
    const i = inspectEveryWay(isoImage(100));
    assert.equal(i.format, 'iso');
    assert.equal(i.virtualSize, 100 * 2048);
    assert.equal(judge(i, 'iso').virtualSize, 100 * 2048);
    refused(i, 'qcow2', /does not match stream data iso/);
  });

  test('ISO with a partition table in its system area (isohybrid) counts as iso', () => {
    const hybrid = isoImage(100, mbr([{ boot: 0x80, type: 0x17, lba: 0, sectors: 400 }]));
    const i = inspectEveryWay(hybrid);
    assert.equal(i.format, 'iso');
    assert.deepEqual(i.alsoMatched, ['gpt']);
    assert.equal(judge(i, 'iso').virtualSize, 100 * 2048);
  });

  test('MBR/GPT: real tables pass, crafted ones fail the mbr check', () => {
    const plain = inspectEveryWay(disk(mbr([{ boot: 0x80, type: 0x83, chs: [1, 1, 0], lba: 2048, sectors: 1000 }])));
    assert.equal(plain.format, 'gpt');
    assert.deepEqual(plain.unsafe, []);
    assert.equal(plain.virtualSize, 2048 * 512);
    const protective = inspectEveryWay(disk(mbr([{ type: 0xee, lba: 1, sectors: 2047 }])));
    assert.deepEqual(protective.unsafe, []);
    // Declared raw: a partitioned raw disk is accepted, its size the stream's.
    assert.deepEqual(judge(plain, 'raw'), { virtualSize: 2048 * 512, warnings: ['Image claims raw disk_format but is actually gpt'] });

    const cases: [string, Buffer, RegExp][] = [
      ['bad boot flag', mbr([{ boot: 0x42, type: 0x83, lba: 2048, sectors: 10 }]), /mbr: MBR PTE 0 has invalid boot flag/],
      ['no partitions', mbr([]), /mbr: GPT MBR has no partitions defined/],
      ['protective entry at LBA 2', mbr([{ type: 0xee, lba: 2, sectors: 100 }]), /mbr: GPT MBR has invalid start LBA/],
      ['protective entry at CHS 0/3/0', mbr([{ type: 0xee, chs: [0, 3, 0], lba: 1, sectors: 100 }]), /mbr: GPT MBR has invalid start CHS/],
      ['protective entry and another', mbr([{ type: 0xee, lba: 1, sectors: 100 }, { type: 0x83, lba: 200, sectors: 100 }]), /mbr: GPT MBR defines invalid extra partitions/],
    ];
    for (const [label, first, pattern] of cases) {
      const i = inspectEveryWay(disk(first));
      assert.equal(i.format, 'gpt', label);
      assert.match(i.unsafe.join(), pattern, label);
      refused(i, 'raw', pattern);
      // gpt_safety_checks_nonfatal = mbr: only a warning.
      const soft = judge(i, 'raw', { gptSafetyChecksNonfatal: ['mbr'] });
      assert.equal(soft.virtualSize, 2048 * 512);
      assert.match(soft.warnings.join(), /Non-fatal gpt safety check failures/);
    }
  });

  test('a FAT boot sector carries the MBR signature but is not a partition table', () => {
    const fat = mbr([]);
    fat[0x10] = 2;
    fat[0x15] = 0xf8;
    assert.equal(inspectEveryWay(disk(fat)).format, 'raw');
  });

  test('LUKS: version 1 accepted with its payload size, version 2 refused', () => {
    const v1 = inspectEveryWay(luksImage(1, 8, 8192));
    assert.equal(v1.format, 'luks');
    assert.equal(v1.virtualSize, 8192);
    assert.deepEqual(v1.unsafe, []);
    const v2 = inspectEveryWay(luksImage(2));
    assert.deepEqual(v2.failures, [{ check: 'version', reason: 'LUKS version 2 is not supported' }]);
    refused(v2, 'raw', /version: LUKS version 2/);
  });

  test('text that reads as a VMDK descriptor (qemu would open its extents) is refused; other text is raw', () => {
    const text = Buffer.from('# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 100 FLAT "/etc/shadow" 0\n');
    const i = inspectEveryWay(text);
    assert.equal(i.format, 'vmdk');
    refused(i, 'raw', /descriptor/);
    const plain = inspectEveryWay(Buffer.from('hello, this is a plain text file\n'.repeat(100)));
    assert.equal(plain.format, 'raw');
    assert.deepEqual(judge(plain, 'raw'), { virtualSize: plain.size, warnings: [] });
  });

  test('empty stream: raw of size 0', () => {
    const i = new FormatInspector().finish();
    assert.deepEqual({ format: i.format, size: i.size, virtualSize: i.virtualSize }, { format: 'raw', size: 0, virtualSize: 0 });
  });
});

describe('judgeInspection: the rules of Glance', () => {
  const raw = inspect(Buffer.alloc(4096, 1));
  const iso = inspect(isoImage(20));

  test('only bare containers are judged', () => {
    assert.deepEqual(judge(iso, 'qcow2', {}, 'ova'), { virtualSize: null, warnings: [] });
    assert.deepEqual(judge(inspect(luksImage(2)), 'raw', {}, 'docker'), { virtualSize: null, warnings: [] });
  });

  test('raw content: raw gives its length; non-inspectable formats (ami, ploop) no size; inspectable ones mismatch', () => {
    assert.equal(judge(raw, 'raw').virtualSize, 4096);
    for (const f of ['ami', 'ari', 'aki', 'ploop']) assert.deepEqual(judge(raw, f), { virtualSize: null, warnings: [] });
    refused(raw, 'qcow2', /Image disk_format qcow2 does not match stream data raw/);
    refused(raw, 'vmdk', /does not match/);
  });

  test('require_image_format_match = false: a mismatch is a warning and no virtual size', () => {
    const r = judge(iso, 'qcow2', { requireImageFormatMatch: false });
    assert.equal(r.virtualSize, null);
    assert.match(r.warnings.join(), /does not match stream data iso/);
    // … but the detected format's safety checks still hold.
    refused(inspect(luksImage(2)), 'qcow2', /version: LUKS version 2/, { requireImageFormatMatch: false });
  });
});

describe('fuzz: random and damaged inputs (seeded)', () => {
  const MAGICS: [number, Buffer][] = [
    [0, Buffer.from('QFI\xfb', 'latin1')],
    [0, Buffer.from('QED\x00', 'latin1')],
    [0, Buffer.from('KDMV', 'latin1')],
    [0, Buffer.from('COWD', 'latin1')],
    [0, Buffer.from('# Disk DescriptorFile\nversion=1\n', 'latin1')],
    [0, Buffer.from('conectix', 'latin1')],
    [0, Buffer.from('vhdxfile', 'latin1')],
    [0x40, Buffer.from([0x7f, 0x10, 0xda, 0xbe])],
    [0, Buffer.from('LUKS\xba\xbe', 'latin1')],
    [32769, Buffer.from('CD001', 'latin1')],
    [510, Buffer.from([0x55, 0xaa])],
    [0x30000, Buffer.from('regi', 'latin1')],
  ];

  /** Inspects `data` in random chunks; checks: no throw, the cap, and the same answer as in one piece. */
  function check(data: Buffer, rand: () => number, label: string) {
    let i: Inspection;
    try {
      const maxChunk = 1 + Math.floor(rand() * 70_000);
      i = inspect(data, () => 1 + Math.floor(rand() * maxChunk));
    } catch (err) {
      assert.fail(`${label}: ${(err as Error).stack}`);
    }
    assert.deepEqual(i, inspect(data), label);
    assert.equal(i.size, data.length);
    assert.doesNotThrow(() => {
      try {
        judgeInspection(i, { disk_format: 'raw', container_format: 'bare' }, SETTINGS);
      } catch (err) {
        if (!(err instanceof UnsupportedMediaType)) throw err;
      }
    }, label);
  }

  test('3000 random streams with format signatures planted in them', () => {
    const rand = prng(1234);
    const started = Date.now();
    for (let n = 0; n < 3000; n++) {
      const len = Math.floor(rand() ** 3 * 300_000);
      const data = randomBuffer(rand, len);
      // Zero some header areas so structures parse further than pure noise would.
      if (rand() < 0.5) data.fill(0, Math.min(len, 8), Math.min(len, 512));
      for (const [at, magic] of MAGICS) if (rand() < 0.3 && at + magic.length <= len) magic.copy(data, at);
      check(data, rand, `random case ${n} (seed 1234)`);
    }
    assert.ok(Date.now() - started < 60_000, 'fuzzing stays fast');
  });

  test('truncations and byte flips of the real images', { skip: NO_QEMU }, () => {
    const rand = prng(99);
    const names = Object.keys(images.files);
    for (let n = 0; n < 400; n++) {
      const name = names[n % names.length]!;
      const full = read(name);
      const data = Buffer.from(full.subarray(0, Math.floor(rand() * Math.min(full.length, 2.2 * MiB))));
      // Flip bytes where the structures are: the first KiB, the ISO descriptor, the VHDX tables.
      for (let k = Math.floor(rand() * 6); k > 0; k--) {
        const area = [0, 0x30000, 32768, 0x100000, 0x200000][Math.floor(rand() * 5)]!;
        const at = area + Math.floor(rand() * 1024);
        if (at < data.length) data[at] = Math.floor(rand() * 256);
      }
      check(data, rand, `${name} damaged, case ${n} (seed 99)`);
    }
  });
});
