import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { FilesystemStore } from '../src/store/filesystem.js';
import type { BlobStore } from '../src/store/blob-store.js';
import { tempDir } from './support/harness.js';
import { storeConformance } from './support/store-conformance.js';

const dirs = new Map<BlobStore, string>();

storeConformance(
  'file',
  async () => {
    const dir = tempDir('ocellus-fs-store-');
    const store = new FilesystemStore(dir);
    await store.init();
    dirs.set(store, dir);
    return store;
  },
  async (store) => {
    const dir = dirs.get(store)!;
    const files = fs.readdirSync(dir).filter((f) => f !== '.partial');
    const partials = fs.readdirSync(path.join(dir, '.partial')).map((f) => `.partial/${f}`);
    return [...files, ...partials];
  },
);

test('file store refuses keys that could escape its directory', async () => {
  const store = new FilesystemStore(tempDir('ocellus-fs-store-'));
  await store.init();
  await assert.rejects(store.createWriter('../etc', 'a'), /invalid object key/);
  await assert.rejects(store.read('.partial'), /invalid object key/);
  assert.equal(store.keyOf('file:///somewhere/else/abc'), undefined);
});
