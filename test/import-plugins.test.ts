import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { ConfigError, importPluginOptions, loadConfig } from '../src/config/options.js';
import {
  buildImportPlugins,
  ImportPluginError,
  IMPORT_PLUGIN_NAMES,
  UnknownImportPluginError,
  type ImportPlugin,
  type ImportPluginOptions,
  type PluginImage,
  type PluginOutcome,
} from '../src/tasks/import-plugins.js';
import { detectCompression } from '../src/tasks/plugins/image-decompression.js';

/**
 * The import plugins on real files made by the real tools: qemu-img for disk images, gzip, zip
 * and xz for archives. A missing tool skips its tests with the package to install.
 */

const MiB = 1024 * 1024;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ocellus-plugins-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}
/** A skip reason naming the Debian packages of the missing tools, or false. */
function needs(tools: Record<string, string>): string | false {
  const missing = Object.entries(tools).filter(([tool]) => !onPath(tool));
  return missing.length === 0 ? false : `needs ${missing.map(([tool, pkg]) => `${tool} (Debian ${pkg})`).join(', ')}; see scripts/install-test-deps.sh`;
}

const OPTIONS: ImportPluginOptions = {
  outputFormat: 'raw',
  inject: {},
  ignoreUserRoles: ['admin'],
  vmdkAllowedTypes: ['monolithicSparse', 'streamOptimized'],
  maxBytes: 1024 * MiB,
};

function plugin(name: string, options: Partial<ImportPluginOptions> = {}): ImportPlugin {
  return buildImportPlugins([name], { ...OPTIONS, ...options })[0]!;
}

let counter = 0;
/** A fresh directory under the test root. */
function dir(label: string): string {
  const d = path.join(root, `${label}-${++counter}`);
  fs.mkdirSync(d);
  return d;
}

function image(disk_format: string | null, container_format: string | null = 'bare'): PluginImage {
  return { id: '7c2c4d3e-6d5e-4a1b-9f0e-2b1f7a9e0c11', disk_format, container_format, properties: {} };
}

async function runOn(p: ImportPlugin, file: string, img: PluginImage, opts: { workDir?: string; roles?: string[]; signal?: AbortSignal } = {}): Promise<PluginOutcome> {
  return p.run({
    staged: { path: file, size: fs.statSync(file).size },
    image: img,
    roles: opts.roles ?? ['member', 'reader'],
    workDir: opts.workDir ?? dir('work'),
    signal: opts.signal ?? new AbortController().signal,
  });
}

/** Raw disk content that is neither all zeros nor all random: some random blocks in a sparse disk. */
function rawDisk(file: string, size: number): Buffer {
  const data = Buffer.alloc(size);
  for (let off = 0; off < size; off += 256 * 1024) randomBytes(4096).copy(data, off);
  randomBytes(1000).copy(data, size - 1000);
  fs.writeFileSync(file, data);
  return data;
}

function qemuImg(...args: string[]): string {
  return execFileSync('qemu-img', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function info(file: string, format: string): { format: string; 'virtual-size': number } {
  return JSON.parse(qemuImg('info', '--output=json', '-f', format, file)) as { format: string; 'virtual-size': number };
}

function filesIn(d: string): string[] {
  return fs.readdirSync(d);
}

describe('image_conversion', { skip: needs({ 'qemu-img': 'qemu-utils', prlimit: 'util-linux' }) }, () => {
  let rawFile = '';
  let original: Buffer = Buffer.alloc(0);
  /** The same disk in each format qemu-img writes, by disk_format. */
  const made: Record<string, { file: string }> = {};
  before(() => {
    const src = dir('conv-src');
    rawFile = path.join(src, 'disk.raw');
    original = rawDisk(rawFile, 6 * MiB);
    for (const [disk_format, driver, opts] of [
      ['qcow2', 'qcow2', []],
      ['vmdk', 'vmdk', ['-o', 'subformat=monolithicSparse']],
      ['vhd', 'vpc', ['-o', 'subformat=dynamic']],
      ['vhdx', 'vhdx', []],
      ['vdi', 'vdi', []],
    ] as const) {
      const file = path.join(src, `disk.${disk_format}`);
      qemuImg('convert', '-f', 'raw', '-O', driver, ...opts, rawFile, file);
      made[disk_format] = { file };
    }
  });

  for (const disk_format of ['qcow2', 'vmdk', 'vhd', 'vhdx', 'vdi']) {
    test(`${disk_format} → raw: the bytes qemu-img convert gives, its virtual size, disk_format raw, container bare`, async () => {
      const { file } = made[disk_format]!;
      const driver = disk_format === 'vhd' ? 'vpc' : disk_format;
      const reference = path.join(dir('ref'), 'out.raw');
      qemuImg('convert', '-f', driver, '-O', 'raw', file, reference);
      const workDir = dir('work');
      const outcome = await runOn(plugin('image_conversion'), file, image(disk_format), { workDir });
      assert.ok(outcome.staged, 'a new staged file');
      assert.equal(path.dirname(outcome.staged.path), workDir);
      assert.ok(fs.readFileSync(outcome.staged.path).equals(fs.readFileSync(reference)), 'same bytes as qemu-img convert');
      // The guest's disk is the original raw data (vpc may round its size up to a whole CHS geometry).
      assert.ok(fs.readFileSync(outcome.staged.path).subarray(0, original.length).equals(original));
      assert.equal(outcome.staged.size, fs.statSync(reference).size);
      assert.deepEqual(outcome.changes, { disk_format: 'raw', container_format: 'bare', virtual_size: info(file, driver)['virtual-size'] });
      assert.ok(fs.existsSync(file), 'the input is the caller’s to remove');
    });
  }

  for (const disk_format of ['raw', 'vmdk', 'vhdx']) {
    test(`${disk_format} → qcow2: a qcow2 holding the same disk`, async () => {
      const file = disk_format === 'raw' ? rawFile : made[disk_format]!.file;
      const outcome = await runOn(plugin('image_conversion', { outputFormat: 'qcow2' }), file, image(disk_format));
      assert.ok(outcome.staged);
      const out = info(outcome.staged.path, 'qcow2');
      assert.equal(out.format, 'qcow2');
      assert.deepEqual(outcome.changes, { disk_format: 'qcow2', container_format: 'bare', virtual_size: out['virtual-size'] });
      // qemu-img compare exits 0 only when the guest-visible contents are identical.
      const driver = disk_format === 'vhd' ? 'vpc' : disk_format;
      qemuImg('compare', '-f', driver, '-F', 'qcow2', file, outcome.staged.path);
    });
  }

  test('already in the output format: no conversion, but the virtual size and the safety checks', async () => {
    const { file } = made['qcow2']!;
    const workDir = dir('work');
    const outcome = await runOn(plugin('image_conversion', { outputFormat: 'qcow2' }), file, image('qcow2'), { workDir });
    assert.deepEqual(outcome, { changes: { virtual_size: 6 * MiB } });
    assert.deepEqual(filesIn(workDir), []);

    const base = path.join(dir('base'), 'base.raw');
    fs.writeFileSync(base, Buffer.alloc(MiB));
    const backed = path.join(dir('backed'), 'backed.qcow2');
    qemuImg('create', '-f', 'qcow2', '-b', base, '-F', 'raw', backed);
    await assert.rejects(runOn(plugin('image_conversion', { outputFormat: 'qcow2' }), backed, image('qcow2')), { name: 'ImportPluginError', message: /backing file/ });
  });

  test('raw → raw and iso are kept as they are', async () => {
    assert.deepEqual(await runOn(plugin('image_conversion'), rawFile, image('raw')), { changes: { virtual_size: original.length } });
    const iso = path.join(dir('iso'), 'cd.iso');
    const data = Buffer.alloc(64 * 1024);
    data.write('\x01CD001\x01', 0x8000, 'latin1');
    fs.writeFileSync(iso, data);
    assert.deepEqual(await runOn(plugin('image_conversion'), iso, image('iso')), {});
    await assert.rejects(runOn(plugin('image_conversion'), rawFile, image('iso')), { name: 'ImportPluginError', message: /no ISO 9660/ });
  });

  test('a qcow2 with a backing file is refused, and nothing is left in the work directory', async () => {
    const base = path.join(dir('base'), 'base.raw');
    fs.writeFileSync(base, Buffer.alloc(MiB, 7));
    const backed = path.join(dir('backed'), 'backed.qcow2');
    qemuImg('create', '-f', 'qcow2', '-b', base, '-F', 'raw', backed);
    const workDir = dir('work');
    await assert.rejects(runOn(plugin('image_conversion'), backed, image('qcow2'), { workDir }), (err: Error) => {
      assert.ok(err instanceof ImportPluginError);
      assert.equal(err.message, 'QCOW images with backing files are not allowed');
      return true;
    });
    assert.deepEqual(filesIn(workDir), []);
  });

  test('a qcow2 with an external data file is refused', async () => {
    const d = dir('datafile');
    const file = path.join(d, 'x.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', `data_file=${path.join(d, 'x.data')}`, file, '1M');
    await assert.rejects(runOn(plugin('image_conversion'), file, image('qcow2')), { name: 'ImportPluginError', message: /data-file/ });
  });

  test('files an image names are refused from its header, before qemu-img would open them', async () => {
    // FIFOs in place of the named files: a qemu-img that opened one would block until its timeout.
    const d = dir('fifo');
    const qcow = path.join(d, 'x.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', `data_file=${path.join(d, 'x.data')}`, qcow, '1M');
    fs.rmSync(path.join(d, 'x.data'));
    execFileSync('mkfifo', [path.join(d, 'x.data')]);
    const flat = path.join(d, 'flat.vmdk');
    qemuImg('create', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', flat, '1M');
    fs.rmSync(path.join(d, 'flat-flat.vmdk'));
    execFileSync('mkfifo', [path.join(d, 'flat-flat.vmdk')]);
    const started = Date.now();
    await assert.rejects(runOn(plugin('image_conversion'), qcow, image('qcow2')), { message: 'QCOW images with data-file set are not allowed' });
    const allowFlat = plugin('image_conversion', { vmdkAllowedTypes: ['monolithicSparse', 'monolithicFlat'] });
    await assert.rejects(runOn(allowFlat, flat, image('vmdk')), { message: /VMDK descriptor files are not allowed \(create-type 'monolithicFlat'/ });
    assert.ok(Date.now() - started < 5000);
  });

  test('a vmdk whose create-type is not allowed is refused', async () => {
    const d = dir('flat');
    const flat = path.join(d, 'flat.vmdk');
    qemuImg('create', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', flat, '1M');
    await assert.rejects(runOn(plugin('image_conversion'), flat, image('vmdk')), { name: 'ImportPluginError', message: /create-type 'monolithicFlat'/ });
    // monolithicSparse itself, once the operator allows only streamOptimized:
    await assert.rejects(runOn(plugin('image_conversion', { vmdkAllowedTypes: ['streamOptimized'] }), made['vmdk']!.file, image('vmdk')), {
      message: /create-type 'monolithicSparse'/,
    });
    await assert.rejects(runOn(plugin('image_conversion', { vmdkAllowedTypes: [] }), made['vmdk']!.file, image('vmdk')), { message: /no VMDK createType is allowed/ });
  });

  test('a disk_format that does not match the data is refused', async () => {
    // qemu-img, told vmdk, cannot open a qcow2.
    await assert.rejects(runOn(plugin('image_conversion'), made['qcow2']!.file, image('vmdk')), { name: 'ImportPluginError', message: /qemu-img info failed/ });
    await assert.rejects(runOn(plugin('image_conversion'), rawFile, image('qcow2')), (err: Error) => {
      assert.ok(err instanceof ImportPluginError);
      // qemu-img's own words, without the server's paths.
      assert.match(err.message, /^qemu-img info failed \(exit 1\): qemu-img: Could not open '<image>': Image is not in qcow2 format$/);
      return true;
    });
    // "raw" that is really a qcow2: qemu-img -f raw would not notice; the header does.
    await assert.rejects(runOn(plugin('image_conversion'), made['qcow2']!.file, image('raw')), { name: 'ImportPluginError', message: /should be raw but carries a qcow2 header/ });
    await assert.rejects(runOn(plugin('image_conversion'), made['vhd']!.file, image('raw')), { message: /carries a vhd header/ });
    await assert.rejects(runOn(plugin('image_conversion'), rawFile, image('ami')), { message: /cannot read disk_format 'ami'/ });
    await assert.rejects(runOn(plugin('image_conversion'), rawFile, image(null)), { message: /needs a disk_format/ });
  });

  test('a qcow2 hiding a qcow2-with-backing-file as its disk is refused after conversion to raw', async () => {
    const d = dir('nested');
    const inner = path.join(d, 'inner.qcow2');
    qemuImg('create', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', inner);
    const outer = path.join(d, 'outer.qcow2');
    qemuImg('convert', '-f', 'raw', '-O', 'qcow2', inner, outer);
    const workDir = dir('work');
    await assert.rejects(runOn(plugin('image_conversion'), outer, image('qcow2'), { workDir }), { message: /the converted image should be raw but carries a qcow2 header/ });
    assert.deepEqual(filesIn(workDir), [], 'the converted file is removed');
  });

  test('a raw output beyond the size cap is refused before converting', async () => {
    const d = dir('big');
    const big = path.join(d, 'big.qcow2');
    qemuImg('create', '-f', 'qcow2', big, '1G');
    const workDir = dir('work');
    await assert.rejects(runOn(plugin('image_conversion', { maxBytes: 100 * MiB }), big, image('qcow2'), { workDir }), {
      message: `Image's virtual size ${1024 * MiB} is over the size cap of ${100 * MiB} bytes`,
    });
    assert.deepEqual(filesIn(workDir), []);
  });

  test('the abort signal stops a running qemu-img convert and removes its output', async () => {
    const d = dir('abort');
    const big = path.join(d, 'big.raw');
    // 384 MiB of non-zero data: qemu-img must copy every block, which takes a while.
    const block = randomBytes(MiB);
    const fd = fs.openSync(big, 'w');
    for (let i = 0; i < 384; i++) fs.writeSync(fd, block);
    fs.closeSync(fd);
    const workDir = dir('work');
    const controller = new AbortController();
    const running = runOn(plugin('image_conversion', { outputFormat: 'qcow2' }), big, image('raw'), { workDir, signal: controller.signal });
    // qemu-img convert creates its output first thing: abort once it exists.
    const started = Date.now();
    while (filesIn(workDir).length === 0) {
      assert.ok(Date.now() - started < 30_000, 'qemu-img convert never started');
      await new Promise((r) => setTimeout(r, 5));
    }
    const abortedAt = Date.now();
    controller.abort();
    await assert.rejects(running, { name: 'AbortError' });
    assert.ok(Date.now() - abortedAt < 2000, 'stopped at once');
    assert.deepEqual(filesIn(workDir), [], 'the partial output is removed');
    assert.deepEqual(processesNaming(workDir), [], 'no qemu-img left running');
  });

  test('an already aborted signal runs nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(runOn(plugin('image_conversion'), made['qcow2']!.file, image('qcow2'), { signal: controller.signal }), { name: 'AbortError' });
  });
});

/**
 * A ZIP archive of one stored member written the way a zip64 writer does for large files: every
 * size and offset in the classic records is 0xFFFFFFFF and the real values are in the zip64
 * extra field and the zip64 end-of-central-directory record.
 */
function zip64Stored(name: string, data: Buffer): Buffer {
  const nameBytes = Buffer.from(name);
  const crc = zlib.crc32(data);
  const u64 = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  const localExtra = Buffer.concat([Buffer.from([0x01, 0x00, 16, 0x00]), u64(data.length), u64(data.length)]);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(45, 4);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(0xffffffff, 18);
  local.writeUInt32LE(0xffffffff, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  local.writeUInt16LE(localExtra.length, 28);
  const localPart = Buffer.concat([local, nameBytes, localExtra, data]);

  const centralExtra = Buffer.concat([Buffer.from([0x01, 0x00, 24, 0x00]), u64(data.length), u64(data.length), u64(0)]);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(45, 4);
  central.writeUInt16LE(45, 6);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(0xffffffff, 20);
  central.writeUInt32LE(0xffffffff, 24);
  central.writeUInt16LE(nameBytes.length, 28);
  central.writeUInt16LE(centralExtra.length, 30);
  central.writeUInt32LE(0xffffffff, 42);
  const centralPart = Buffer.concat([central, nameBytes, centralExtra]);

  const cdOffset = localPart.length;
  const end64 = Buffer.alloc(56);
  end64.writeUInt32LE(0x06064b50, 0);
  end64.writeBigUInt64LE(44n, 4);
  end64.writeUInt16LE(45, 12);
  end64.writeUInt16LE(45, 14);
  end64.writeBigUInt64LE(1n, 24);
  end64.writeBigUInt64LE(1n, 32);
  end64.writeBigUInt64LE(BigInt(centralPart.length), 40);
  end64.writeBigUInt64LE(BigInt(cdOffset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(cdOffset + centralPart.length), 8);
  locator.writeUInt32LE(1, 16);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0xffff, 8);
  end.writeUInt16LE(0xffff, 10);
  end.writeUInt32LE(0xffffffff, 12);
  end.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([localPart, centralPart, end64, locator, end]);
}

/** Pids of processes whose command line names `d` (tools the plugins started and should have stopped). */
function processesNaming(d: string): string[] {
  return fs.readdirSync('/proc').filter((pid) => {
    if (!/^\d+$/.test(pid)) return false;
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(d);
    } catch {
      return false;
    }
  });
}

describe('image_decompression', () => {
  const src = dir('dec-src');
  const rawFile = path.join(src, 'disk.raw');
  let original: Buffer = Buffer.alloc(0);
  before(() => {
    original = rawDisk(rawFile, 5 * MiB + 123);
  });

  async function decompressed(file: string, options: Partial<ImportPluginOptions> = {}, container = 'bare'): Promise<{ outcome: PluginOutcome; workDir: string }> {
    const workDir = dir('work');
    return { outcome: await runOn(plugin('image_decompression', options), file, image('raw', container), { workDir }), workDir };
  }

  async function assertRestores(file: string): Promise<void> {
    const { outcome, workDir } = await decompressed(file);
    assert.ok(outcome.staged, 'a new staged file');
    assert.equal(path.dirname(outcome.staged.path), workDir);
    assert.equal(outcome.staged.size, original.length);
    assert.ok(fs.readFileSync(outcome.staged.path).equals(original), 'the original bytes');
    assert.equal(outcome.changes, undefined, 'formats stay as declared');
  }

  describe('gzip', { skip: needs({ gzip: 'gzip' }) }, () => {
    const gz = path.join(src, 'disk.raw.gz');
    before(() => execFileSync('sh', ['-c', `gzip -c "${rawFile}" > "${gz}"`]));

    test('a gzip file is replaced by its content', async () => {
      await assertRestores(gz);
    });

    test('several gzip members are read one after the other, as gzip -d does', async () => {
      const d = dir('multi');
      const half = Math.floor(original.length / 2);
      fs.writeFileSync(path.join(d, 'a'), original.subarray(0, half));
      fs.writeFileSync(path.join(d, 'b'), original.subarray(half));
      const file = path.join(d, 'ab.gz');
      execFileSync('sh', ['-c', `gzip -c a > ab.gz && gzip -c b >> ab.gz`], { cwd: d });
      await assertRestores(file);
    });

    test('a corrupt or truncated gzip is refused and leaves nothing behind', async () => {
      const bytes = fs.readFileSync(gz);
      const corrupt = Buffer.from(bytes);
      for (let i = 0; i < 64; i++) corrupt[Math.floor(bytes.length / 2) + i] ^= 0x5a;
      const truncated = bytes.subarray(0, Math.floor(bytes.length * 0.6));
      for (const [label, content] of [['corrupt', corrupt], ['truncated', truncated]] as const) {
        const file = path.join(dir(label), 'x.gz');
        fs.writeFileSync(file, content);
        const workDir = dir('work');
        await assert.rejects(runOn(plugin('image_decompression'), file, image('raw'), { workDir }), { name: 'ImportPluginError', message: /^Error decompressing image \(gzip\): / }, label);
        assert.deepEqual(filesIn(workDir), [], label);
      }
    });

    test('a gzip bomb over the size cap is refused and its partial output removed', async () => {
      const d = dir('bomb');
      execFileSync('sh', ['-c', 'head -c 67108864 /dev/zero | gzip -c > bomb.gz'], { cwd: d });
      assert.ok(fs.statSync(path.join(d, 'bomb.gz')).size < MiB);
      const workDir = dir('work');
      await assert.rejects(runOn(plugin('image_decompression', { maxBytes: 8 * MiB }), path.join(d, 'bomb.gz'), image('raw'), { workDir }), {
        name: 'ImportPluginError',
        message: `Decompressed image is larger than the size cap of ${8 * MiB} bytes`,
      });
      assert.deepEqual(filesIn(workDir), []);
    });

    test('container_format compressed is left alone, and so is data that is not compressed', async () => {
      assert.deepEqual((await decompressed(gz, {}, 'compressed')).outcome, {});
      assert.deepEqual((await decompressed(rawFile)).outcome, {});
    });
  });

  describe('zip', { skip: needs({ zip: 'zip' }) }, () => {
    test('a zip of one file (deflated, stored, or streamed with sizes after the data) is replaced by it', async () => {
      const d = dir('zip');
      fs.copyFileSync(rawFile, path.join(d, 'disk.raw'));
      execFileSync('zip', ['-q', 'deflated.zip', 'disk.raw'], { cwd: d });
      execFileSync('zip', ['-q', '-0', 'stored.zip', 'disk.raw'], { cwd: d });
      // From a pipe zip cannot seek back: sizes and CRC follow the data (flag bit 3).
      execFileSync('sh', ['-c', 'zip -q - - < disk.raw > streamed.zip'], { cwd: d });
      for (const name of ['deflated.zip', 'stored.zip', 'streamed.zip']) await assertRestores(path.join(d, name));
    });

    test('a zip of two files, an encrypted zip and a zip bomb are refused', async () => {
      const d = dir('zip-bad');
      fs.copyFileSync(rawFile, path.join(d, 'a.raw'));
      fs.writeFileSync(path.join(d, 'b.txt'), 'second member');
      execFileSync('zip', ['-q', 'two.zip', 'a.raw', 'b.txt'], { cwd: d });
      execFileSync('zip', ['-q', '-P', 'secret', 'enc.zip', 'a.raw'], { cwd: d });
      execFileSync('sh', ['-c', 'head -c 67108864 /dev/zero > zeros && zip -q bomb.zip zeros && rm zeros'], { cwd: d });
      await assert.rejects(runOn(plugin('image_decompression'), path.join(d, 'two.zip'), image('raw')), { name: 'ImportPluginError', message: /Archive contains 2 files/ });
      await assert.rejects(runOn(plugin('image_decompression'), path.join(d, 'enc.zip'), image('raw')), { name: 'ImportPluginError', message: /Encrypted ZIP/ });
      const workDir = dir('work');
      await assert.rejects(runOn(plugin('image_decompression', { maxBytes: 8 * MiB }), path.join(d, 'bomb.zip'), image('raw'), { workDir }), { message: /larger than the size cap/ });
      assert.deepEqual(filesIn(workDir), []);
    });

    test('a zip64 archive (sizes and offsets in the zip64 records) is read', async () => {
      const d = dir('zip64');
      const file = path.join(d, 'disk.zip');
      fs.writeFileSync(file, zip64Stored('disk.raw', original));
      // The writer below is checked by Info-ZIP's own reader first.
      if (onPath('unzip')) execFileSync('unzip', ['-tq', file], { stdio: 'ignore' });
      await assertRestores(file);
    });

    test('a zip whose data is damaged fails its CRC or its inflation', async () => {
      const d = dir('zip-corrupt');
      fs.copyFileSync(rawFile, path.join(d, 'disk.raw'));
      execFileSync('zip', ['-q', '-0', 'stored.zip', 'disk.raw'], { cwd: d });
      const bytes = fs.readFileSync(path.join(d, 'stored.zip'));
      bytes[1000] ^= 0xff;
      fs.writeFileSync(path.join(d, 'stored.zip'), bytes);
      await assert.rejects(runOn(plugin('image_decompression'), path.join(d, 'stored.zip'), image('raw')), { name: 'ImportPluginError', message: /fails its CRC-32 check/ });
      // Cut off the end: no central directory any more.
      fs.writeFileSync(path.join(d, 'cut.zip'), bytes.subarray(0, bytes.length - 200));
      await assert.rejects(runOn(plugin('image_decompression'), path.join(d, 'cut.zip'), image('raw')), { name: 'ImportPluginError', message: /Not a valid ZIP archive/ });
    });
  });

  describe('xz and lzma', { skip: needs({ xz: 'xz-utils', prlimit: 'util-linux' }) }, () => {
    test('an xz file and a legacy .lzma file are replaced by their content', async () => {
      const d = dir('xz');
      execFileSync('sh', ['-c', `xz -c -T1 "${rawFile}" > disk.xz && xz --format=lzma -c "${rawFile}" > disk.lzma`], { cwd: d });
      assert.equal(detectCompression(fs.readFileSync(path.join(d, 'disk.lzma')).subarray(0, 13)), 'lzma');
      await assertRestores(path.join(d, 'disk.xz'));
      await assertRestores(path.join(d, 'disk.lzma'));
    });

    test('an xz bomb is stopped at the cap; a damaged xz is refused', async () => {
      const d = dir('xz-bad');
      execFileSync('sh', ['-c', 'head -c 33554432 /dev/zero | xz -c -T1 > bomb.xz'], { cwd: d });
      const workDir = dir('work');
      await assert.rejects(runOn(plugin('image_decompression', { maxBytes: 4 * MiB }), path.join(d, 'bomb.xz'), image('raw'), { workDir }), { message: /larger than the size cap/ });
      assert.deepEqual(filesIn(workDir), []);
      assert.deepEqual(processesNaming(d), [], 'xz is not left running');

      execFileSync('sh', ['-c', `xz -c -T1 "${rawFile}" > disk.xz`], { cwd: d });
      const bytes = fs.readFileSync(path.join(d, 'disk.xz'));
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      fs.writeFileSync(path.join(d, 'bad.xz'), bytes);
      await assert.rejects(runOn(plugin('image_decompression'), path.join(d, 'bad.xz'), image('raw')), (err: Error) => {
        assert.ok(err instanceof ImportPluginError);
        assert.match(err.message, /^xz failed \(exit 1\): xz: <image>: (Compressed data is corrupt|Unexpected end of input)$/);
        return true;
      });
    });
  });

  test('the magic numbers: gzip, zip, xz, lzma; plain disks and near-misses are not compressed', () => {
    const lzma = Buffer.from([0x5d, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), 'gzip');
    assert.equal(detectCompression(Buffer.from('PK\x03\x04xxxxxxxxx', 'latin1')), 'zip');
    assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0, 0, 0, 0, 0, 0])), 'xz');
    assert.equal(detectCompression(lzma), 'lzma');
    // A dictionary size xz would refuse (not 2^n or 2^n + 2^(n-1)), and a 1 TiB "uncompressed size".
    assert.equal(detectCompression(Buffer.from([0x5d, 0, 0, 0x81, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), null);
    assert.equal(detectCompression(Buffer.from([0x5d, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0])), null);
    assert.equal(detectCompression(Buffer.from('QFI\xfb\0\0\0\x03xxxxx', 'latin1')), null);
    assert.equal(detectCompression(Buffer.alloc(13)), null);
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b])), null);
  });
});

describe('inject_image_metadata', () => {
  const inject = { hw_machine_type: 'q35', os_require_quiesce: 'yes', os_glance_importing_to_stores: 'evil' };

  test('sets the configured properties, without os_glance ones', async () => {
    const file = path.join(dir('inj'), 'x');
    fs.writeFileSync(file, 'x');
    const outcome = await runOn(plugin('inject_image_metadata', { inject }), file, image('raw'), { roles: ['member', 'reader'] });
    assert.deepEqual(outcome, { properties: { hw_machine_type: 'q35', os_require_quiesce: 'yes' } });
  });

  test('callers with an ignored role get nothing injected', async () => {
    const file = path.join(dir('inj'), 'x');
    fs.writeFileSync(file, 'x');
    assert.deepEqual(await runOn(plugin('inject_image_metadata', { inject }), file, image('raw'), { roles: ['reader', 'admin'] }), {});
    const custom = plugin('inject_image_metadata', { inject, ignoreUserRoles: ['operator', 'member'] });
    assert.deepEqual(await runOn(custom, file, image('raw'), { roles: ['member'] }), {});
    assert.deepEqual(await runOn(custom, file, image('raw'), { roles: ['admin'] }), { properties: { hw_machine_type: 'q35', os_require_quiesce: 'yes' } });
    assert.deepEqual(await runOn(plugin('inject_image_metadata', { inject: {} }), file, image('raw')), {});
  });
});

describe('the plugin list and its configuration', () => {
  test('buildImportPlugins keeps the configured order and refuses unknown names', async () => {
    assert.deepEqual(
      buildImportPlugins(['inject_image_metadata', 'image_decompression', 'no_op', 'image_conversion'], OPTIONS).map((p) => p.name),
      ['inject_image_metadata', 'image_decompression', 'no_op', 'image_conversion'],
    );
    assert.deepEqual([...IMPORT_PLUGIN_NAMES].sort(), ['image_conversion', 'image_decompression', 'inject_image_metadata', 'no_op']);
    assert.throws(() => buildImportPlugins(['no_op', 'image_compression'], OPTIONS), (err: Error) => {
      assert.ok(err instanceof UnknownImportPluginError);
      assert.match(err.message, /unknown import plugin 'image_compression' \(known: no_op, image_decompression, image_conversion, inject_image_metadata\)/);
      return true;
    });
    const file = path.join(dir('noop'), 'x');
    fs.writeFileSync(file, 'x');
    assert.deepEqual(await runOn(plugin('no_op'), file, image('raw')), {});
  });

  test("Glance's option syntax: bounded quoted list, dict, defaults", () => {
    const d = dir('conf');
    const conf = path.join(d, 'glance-image-import.conf');
    fs.writeFileSync(
      conf,
      [
        '[DEFAULT]',
        'image_size_cap = 10GB',
        '[image_import_opts]',
        "image_import_plugins = ['image_decompression', \"image_conversion\", inject_image_metadata]",
        '[image_conversion]',
        'output_format = qcow2',
        '[inject_metadata_properties]',
        'inject = hw_machine_type:q35, os_distro : ubuntu,empty:,url:http://x:8080/y',
        'ignore_user_roles = admin, operator',
        '',
      ].join('\n'),
    );
    const config = loadConfig({ configFile: conf, dataDir: d, warn: () => undefined });
    assert.deepEqual(config.image_import_opts.image_import_plugins, ['image_decompression', 'image_conversion', 'inject_image_metadata']);
    assert.deepEqual(importPluginOptions(config), {
      outputFormat: 'qcow2',
      inject: { hw_machine_type: 'q35', os_distro: 'ubuntu', empty: '', url: 'http://x:8080/y' },
      ignoreUserRoles: ['admin', 'operator'],
      vmdkAllowedTypes: ['streamOptimized', 'monolithicSparse'], // [image_format]'s default, Glance's order
      maxBytes: 10 * 1024 * MiB,
    });

    const defaults = loadConfig({ dataDir: d, warn: () => undefined });
    assert.deepEqual(defaults.image_import_opts.image_import_plugins, []);
    assert.deepEqual(importPluginOptions(defaults), { ...OPTIONS, vmdkAllowedTypes: ['streamOptimized', 'monolithicSparse'], maxBytes: 1024 ** 4 });
  });

  test('bad plugin names, formats and dicts stop the start with the option named', () => {
    const load = (section: string, name: string, value: string) => () => loadConfig({ overrides: [{ section, name, value }], warn: () => undefined });
    assert.throws(load('image_import_opts', 'image_import_plugins', '[no_op, image_compression]'), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /\[image_import_opts\] image_import_plugins: 'image_compression' not one of 'no_op', 'image_decompression', 'image_conversion', 'inject_image_metadata'/);
      return true;
    });
    assert.throws(load('image_conversion', 'output_format', 'vhd'), { message: /\[image_conversion\] output_format: 'vhd' is not one of 'qcow2', 'raw', 'vmdk'/ });
    assert.throws(load('inject_metadata_properties', 'inject', 'a:1,b'), { message: /'b' is not a key:value pair/ });
    assert.throws(load('inject_metadata_properties', 'inject', ':1'), { message: /has an empty key/ });
    assert.throws(load('inject_metadata_properties', 'inject', `${'k'.repeat(256)}:v`), { message: /longer than 255 characters/ });
  });
});
