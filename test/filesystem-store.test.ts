import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { describe, test } from 'node:test';
import { STORE_OPTIONS, type StoreOptions } from '../src/config/store-options.js';
import { BlobNotFound, StoreError, StoreFull, type BlobStore } from '../src/store/blob-store.js';
import { FilesystemStore } from '../src/store/filesystem.js';
import type { StoreEnv } from '../src/store/store-env.js';
import { put, readAll, storeConformance, target } from './support/store-conformance.js';

// Not the harness's tempDir: that module brings the whole service along, and this test needs only the store.
const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));

/** The file store's options with glance_store's defaults (as config/store-options.ts fills them), then `o`. */
function fileOptions(o: Partial<StoreOptions<'file'>>): StoreOptions<'file'> {
  const defaults = Object.fromEntries(Object.entries(STORE_OPTIONS.file).map(([k, spec]) => [k, spec.default])) as unknown as StoreOptions<'file'>;
  return { ...defaults, filesystem_store_datadirs: [], ...o };
}

function testEnv(logs: string[] = []): StoreEnv {
  return { id: 'file', log: (msg) => logs.push(msg) };
}

async function fileStore(o: Partial<StoreOptions<'file'>>, logs?: string[]): Promise<FilesystemStore> {
  const store = new FilesystemStore(fileOptions(o), testEnv(logs));
  await store.init();
  return store;
}

/** Every file a store's directories hold (objects and partial writes), for the leftovers check. */
function listDirs(dirs: readonly string[]): string[] {
  const out: string[] = [];
  dirs.forEach((dir, i) => {
    for (const f of fs.readdirSync(dir)) if (f !== '.partial') out.push(`${i}:${f}`);
    for (const f of fs.readdirSync(path.join(dir, '.partial'))) out.push(`${i}:.partial/${f}`);
  });
  return out;
}

const storeDirs = new Map<BlobStore, string[]>();
const leftovers = async (store: BlobStore) => listDirs(storeDirs.get(store)!);

storeConformance(
  'file (filesystem_store_datadir)',
  async () => {
    const dir = tempDir('ocellus-fs-store-');
    const store = await fileStore({ filesystem_store_datadir: dir });
    storeDirs.set(store, [dir]);
    return store;
  },
  leftovers,
);

storeConformance(
  'file (filesystem_store_datadirs)',
  async () => {
    const root = tempDir('ocellus-fs-dirs-');
    const dirs = [path.join(root, 'low'), path.join(root, 'high'), path.join(root, 'also-high')];
    const store = await fileStore({ filesystem_store_datadir: path.join(root, 'unused'), filesystem_store_datadirs: [`${dirs[0]}:1`, `${dirs[1]}:5`, `${dirs[2]}:5`] });
    storeDirs.set(store, dirs);
    return store;
  },
  leftovers,
);

let n = 0;
const key = () => `img-${process.pid}-${n++}`;

describe('file store: choosing a directory among filesystem_store_datadirs', () => {
  test('a new object goes to a directory of the highest priority', async () => {
    const root = tempDir('ocellus-fs-prio-');
    const [low, high] = [path.join(root, 'low'), path.join(root, 'high')];
    const store = await fileStore({ filesystem_store_datadirs: [`${low}:100`, `${high}:200`] });
    const { url } = await put(store, key(), Buffer.from('x'));
    assert.equal(path.dirname(new URL(url).pathname), high);
  });

  test('StoreFull when no directory has room for the size hint', async () => {
    const root = tempDir('ocellus-fs-full-');
    const store = await fileStore({ filesystem_store_datadirs: [`${path.join(root, 'a')}:1`, `${path.join(root, 'b')}:0`] });
    await assert.rejects(store.createWriter(target(key(), 'a1', Number.MAX_SAFE_INTEGER)), StoreFull);
    assert.deepEqual(listDirs([path.join(root, 'a'), path.join(root, 'b')]), []);
  });

  test('an object committed again lands in one directory only (priorities changed between the writes)', async () => {
    const root = tempDir('ocellus-fs-move-');
    const [a, b] = [path.join(root, 'a'), path.join(root, 'b')];
    const before = await fileStore({ filesystem_store_datadirs: [`${a}:1`, `${b}:0`] });
    const after = await fileStore({ filesystem_store_datadirs: [`${a}:0`, `${b}:1`] });
    const k = key();
    const first = await put(before, k, Buffer.from('old'));
    const second = await put(after, k, Buffer.from('new'));
    assert.notEqual(first.url, second.url);
    assert.deepEqual(await readAll(await after.read(second.url)), Buffer.from('new'));
    await assert.rejects(after.read(first.url), BlobNotFound);
    assert.deepEqual(listDirs([a, b]), [`1:${k}`]);
  });

  // Free space can only be compared honestly between two real filesystems: /dev/shm (tmpfs) and the temp dir.
  const shm = '/dev/shm';
  const twoFilesystems = fs.existsSync(shm) && fs.statSync(shm).dev !== fs.statSync(tempDir('ocellus-fs-dev-')).dev;
  const skip = twoFilesystems ? false : `needs ${shm} on a filesystem other than the temp dir's, to compare free space`;

  async function smallAndBig(): Promise<{ small: string; big: string; smallFree: number; bigFree: number }> {
    const one = fs.mkdtempSync(path.join(shm, 'ocellus-fs-'));
    const two = tempDir('ocellus-fs-');
    const free = (d: string) => {
      const st = fs.statfsSync(d);
      return st.bavail * st.bsize;
    };
    const [f1, f2] = [free(one), free(two)];
    return f1 < f2 ? { small: one, big: two, smallFree: f1, bigFree: f2 } : { small: two, big: one, smallFree: f2, bigFree: f1 };
  }

  test('among directories of one priority, the one with the most free space', { skip }, async (t) => {
    const { small, big, smallFree, bigFree } = await smallAndBig();
    if (bigFree < smallFree * 1.2) return t.skip('the two filesystems have about the same free space');
    const store = await fileStore({ filesystem_store_datadirs: [`${small}:0`, `${big}:0`] });
    const { url } = await put(store, key(), Buffer.from('x'));
    assert.equal(path.dirname(new URL(url).pathname), big);
    await store.delete(url);
  });

  test('a higher priority without room for the size hint falls back to the next priority', { skip }, async (t) => {
    const { small, big, smallFree, bigFree } = await smallAndBig();
    if (bigFree < smallFree * 1.2) return t.skip('the two filesystems have about the same free space');
    const store = await fileStore({ filesystem_store_datadirs: [`${small}:9`, `${big}:1`] });
    const fits = await put(store, key(), Buffer.from('small'), { sizeHint: 1 });
    assert.equal(path.dirname(new URL(fits.url).pathname), small, 'a small image stays in the higher priority');
    const hint = Math.floor((smallFree + bigFree) / 2);
    const writer = await store.createWriter(target(key(), 'big', hint));
    await pipeline(Readable.from([Buffer.from('pretend to be big')]), writer);
    const { url } = await writer.commit();
    assert.equal(path.dirname(new URL(url).pathname), big);
    await store.delete(url);
    await store.delete(fits.url);
  });
});

describe('file store: filesystem_store_file_perm', () => {
  test('0 leaves new files at 0640 (less what the umask removes)', async () => {
    const dir = tempDir('ocellus-fs-perm-');
    const store = await fileStore({ filesystem_store_datadir: dir });
    const { url } = await put(store, key(), Buffer.from('x'));
    const umask = process.umask();
    assert.equal(fs.statSync(new URL(url)).mode & 0o777, 0o640 & ~umask);
  });

  test('a mode is set on the file before it is visible, and the directory made searchable for whom it lets read', async () => {
    const dir = tempDir('ocellus-fs-perm-');
    fs.chmodSync(dir, 0o700);
    const store = await fileStore({ filesystem_store_datadir: dir, filesystem_store_file_perm: '644' });
    assert.equal(fs.statSync(dir).mode & 0o777, 0o711, 'group and others may search the directory');
    const k = key();
    const writer = await store.createWriter(target(k, 'w1', 1));
    assert.equal(fs.statSync(path.join(dir, '.partial', `${k}.w1`)).mode & 0o777, 0o644, 'already on the partial file');
    await pipeline(Readable.from([Buffer.from('x')]), writer);
    const { url } = await writer.commit();
    assert.equal(fs.statSync(new URL(url)).mode & 0o777, 0o644);
  });

  test('group-only access adds only the group search bit', async () => {
    const dir = tempDir('ocellus-fs-perm-');
    fs.chmodSync(dir, 0o700);
    await fileStore({ filesystem_store_datadir: dir, filesystem_store_file_perm: '0640' });
    assert.equal(fs.statSync(dir).mode & 0o777, 0o710);
  });

  test('a mode that would hide the files from Ocellus itself is a start-up error', async () => {
    const store = new FilesystemStore(fileOptions({ filesystem_store_datadir: tempDir('ocellus-fs-perm-'), filesystem_store_file_perm: '044' }), testEnv());
    await assert.rejects(store.init(), /filesystem_store_file_perm/);
  });
});

describe('file store: filesystem_store_metadata_file', () => {
  function metadataFile(content: unknown): string {
    const file = path.join(tempDir('ocellus-fs-meta-'), 'metadata.json');
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  test('a dict is recorded with every location of a directory under its mountpoint', async () => {
    const root = tempDir('ocellus-fs-meta-');
    const meta: Record<string, unknown> = { id: 'nfs-1', mountpoint: root, extra: { share: 'a', list: ['b'] } };
    const store = await fileStore({ filesystem_store_datadir: path.join(root, 'images'), filesystem_store_metadata_file: metadataFile(meta) });
    const stored = await put(store, key(), Buffer.from('x'));
    assert.deepEqual(stored.metadata, meta);
    stored.metadata.store = 'changed by the caller';
    assert.deepEqual((await put(store, key(), Buffer.from('y'))).metadata, meta, 'each commit gets its own copy');
  });

  test('a list: each location records the entry whose mountpoint holds its directory', async () => {
    const [m1, m2] = [tempDir('ocellus-fs-mnt1-'), tempDir('ocellus-fs-mnt2-')];
    const [d1, d2] = [path.join(m1, 'images'), path.join(m2, 'images')];
    const entries = [
      { id: 'one', mountpoint: m1 },
      { id: 'two', mountpoint: m2 },
    ];
    const file = metadataFile(entries);
    const prefersOne = await fileStore({ filesystem_store_datadirs: [`${d1}:1`, `${d2}:0`], filesystem_store_metadata_file: file });
    const prefersTwo = await fileStore({ filesystem_store_datadirs: [`${d1}:0`, `${d2}:1`], filesystem_store_metadata_file: file });
    assert.deepEqual((await put(prefersOne, key(), Buffer.from('x'))).metadata, entries[0]);
    assert.deepEqual((await put(prefersTwo, key(), Buffer.from('x'))).metadata, entries[1]);
  });

  test('a directory under none of the mountpoints gets {} (and a log line at start)', async () => {
    const logs: string[] = [];
    const dir = tempDir('ocellus-fs-meta-');
    // A sibling whose name merely starts like the directory's does not contain it.
    const store = await fileStore({ filesystem_store_datadir: dir, filesystem_store_metadata_file: metadataFile({ id: 'x', mountpoint: dir.slice(0, -1) }) }, logs);
    assert.deepEqual((await put(store, key(), Buffer.from('x'))).metadata, {});
    assert.ok(logs.some((l) => l.includes(dir) && l.includes('mountpoints')), logs.join('\n'));
  });

  const invalid: [string, unknown, RegExp][] = [
    ['not JSON', '{"id": ', /not valid JSON/],
    ['a dict without mountpoint', { id: 'x' }, /needs a string 'mountpoint'/],
    ['a list entry without id', [{ id: 'a', mountpoint: '/' }, { mountpoint: '/' }], /entry 1 needs a string 'id'/],
    ['a number value', { id: 'x', mountpoint: '/', size: 3 }, /'size' is neither a string/],
    ['a list of strings', ['a'], /entry 0 is not a JSON object/],
  ];
  for (const [name, content, message] of invalid) {
    test(`start-up error naming the file: ${name}`, async () => {
      const file = metadataFile(content);
      const store = new FilesystemStore(fileOptions({ filesystem_store_datadir: tempDir('ocellus-fs-meta-'), filesystem_store_metadata_file: file }), testEnv());
      const err = await store.init().then(() => undefined, (e: unknown) => e as Error);
      assert.ok(err instanceof StoreError, 'init rejects');
      assert.match(err.message, message);
      assert.ok(err.message.includes(file), err.message);
    });
  }

  test('start-up error naming a missing metadata file', async () => {
    const file = path.join(tempDir('ocellus-fs-meta-'), 'absent.json');
    const store = new FilesystemStore(fileOptions({ filesystem_store_datadir: tempDir('ocellus-fs-meta-'), filesystem_store_metadata_file: file }), testEnv());
    await assert.rejects(store.init(), (err: Error) => err.message.includes(file) && /cannot be read/.test(err.message));
  });
});

describe('file store: locations and keys', () => {
  test('file URLs outside the store directories are not owned and never read', async () => {
    const root = tempDir('ocellus-fs-own-');
    const dir = path.join(root, 'images');
    const store = await fileStore({ filesystem_store_datadir: dir });
    fs.writeFileSync(path.join(root, 'secret'), 'secret');
    const { url } = await put(store, key(), Buffer.from('mine'));
    const foreign = [
      'file:///etc/passwd',
      pathToFileURL(path.join(root, 'secret')).href,
      `${pathToFileURL(dir).href}/../secret`,
      `${pathToFileURL(dir).href}/%2e%2e/secret`,
      `${pathToFileURL(dir).href}/..%2Fsecret`,
      `${pathToFileURL(dir).href}/.partial/x`,
      `${pathToFileURL(dir).href}/sub/${key()}`,
      `file://localhost${dir}/x`,
      `file://otherhost${dir}/x`,
      url.replace('file:', 'http:'),
    ];
    for (const u of foreign) {
      assert.equal(store.owns(u), false, u);
      await assert.rejects(store.read(u), (err: unknown) => err instanceof StoreError && !(err instanceof BlobNotFound) && /not a location of this store/.test(err.message), u);
      await assert.rejects(store.size(u), StoreError, u);
      await assert.rejects(store.delete(u), StoreError, u);
    }
    assert.equal(fs.readFileSync(path.join(root, 'secret'), 'utf8'), 'secret');
  });

  test('a filesystem: URL and a Glance-written unencoded URL of the store are owned and readable', async () => {
    const dir = path.join(tempDir('ocellus-fs-own-'), 'image store');
    const store = await fileStore({ filesystem_store_datadir: dir });
    const k = key();
    const { url } = await put(store, k, Buffer.from('mine'));
    assert.ok(url.includes('image%20store'), url);
    for (const u of [url, url.replace(/^file:/, 'filesystem:'), `file://${dir}/${k}`]) {
      assert.ok(store.owns(u), u);
      assert.deepEqual(await readAll(await store.read(u)), Buffer.from('mine'));
    }
  });

  test('a symlink planted in a store directory is not followed', async () => {
    const dir = tempDir('ocellus-fs-link-');
    const store = await fileStore({ filesystem_store_datadir: dir });
    fs.symlinkSync('/etc/passwd', path.join(dir, 'planted'));
    const url = pathToFileURL(path.join(dir, 'planted')).href;
    await assert.rejects(store.read(url), StoreError);
    await assert.rejects(store.size(url), StoreError);
  });

  test('keys and attempts that could escape the directory are refused', async () => {
    const store = await fileStore({ filesystem_store_datadir: tempDir('ocellus-fs-key-') });
    for (const bad of ['../etc', '.partial', '..', 'a/b', '', '.hidden']) {
      await assert.rejects(store.createWriter(target(bad, 'a1', null)), /invalid object key/, bad);
      await assert.rejects(store.discardWrite(target(bad, 'a1', null), { committed: true }), /invalid object key/, bad);
    }
    await assert.rejects(store.createWriter(target('ok', '../../x', null)), /invalid object key/);
  });

  test('a write in progress is a file in .partial named by key and attempt', async () => {
    const dir = tempDir('ocellus-fs-partial-');
    const store = await fileStore({ filesystem_store_datadir: dir });
    const k = key();
    const writer = await store.createWriter(target(k, 'att1', null));
    assert.deepEqual(fs.readdirSync(path.join(dir, '.partial')), [`${k}.att1`]);
    assert.equal(fs.existsSync(path.join(dir, k)), false);
    await pipeline(Readable.from([Buffer.from('abc')]), writer);
    const { url, metadata } = await writer.commit();
    assert.equal(url, pathToFileURL(path.join(dir, k)).href);
    assert.deepEqual(metadata, {});
    assert.deepEqual(fs.readdirSync(path.join(dir, '.partial')), []);
  });
});

describe('file store: start-up and description', () => {
  test('a data directory that cannot be created is a start-up error naming it', async () => {
    const file = path.join(tempDir('ocellus-fs-init-'), 'a-file');
    fs.writeFileSync(file, '');
    const dir = path.join(file, 'images');
    const store = new FilesystemStore(fileOptions({ filesystem_store_datadir: dir }), testEnv());
    await assert.rejects(store.init(), (err: Error) => err instanceof StoreError && err.message.includes(dir));
  });

  test('one directory listed twice with different priorities is a start-up error', async () => {
    const dir = tempDir('ocellus-fs-init-');
    const store = new FilesystemStore(fileOptions({ filesystem_store_datadirs: [`${dir}:1`, `${dir}:2`] }), testEnv());
    await assert.rejects(store.init(), /listed twice with different priorities/);
  });

  test('describe: data_dir, chunk_size, thin_provisioning; with datadirs the first of the highest priority', async () => {
    const dir = tempDir('ocellus-fs-desc-');
    const single = await fileStore({ filesystem_store_datadir: dir, filesystem_store_chunk_size: 131072 });
    assert.deepEqual(single.describe(), { data_dir: dir, chunk_size: 131072, thin_provisioning: false });
    assert.deepEqual(single.capabilities, { write: true, rangedReads: true, multipart: false });
    const [a, b, c] = ['a', 'b', 'c'].map((x) => path.join(dir, x)) as [string, string, string];
    const multi = await fileStore({ filesystem_store_datadir: path.join(dir, 'default'), filesystem_store_datadirs: [`${a}:1`, `${b}:3`, `${c}:3`] });
    assert.deepEqual(multi.describe(), { data_dir: b, chunk_size: 65536, thin_provisioning: false, data_dirs: [`${b}:3`, `${c}:3`, `${a}:1`] });
  });
});
