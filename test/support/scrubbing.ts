/**
 * Helpers of the scrubber tests: `ocellus scrub` as a child process on a test server's database
 * and data directory, a Scrubber in this process (its store deletes counted), images with data.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/options.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { SqlUnitOfWork } from '../../src/db/unit-of-work.js';
import { DataCleanup } from '../../src/domain/data-cleanup.js';
import { Leases } from '../../src/domain/leases.js';
import { Scrubber } from '../../src/domain/scrubber.js';
import type { BlobStore } from '../../src/store/blob-store.js';
import { StoreRegistry } from '../../src/store/registry.js';
import { OCELLUS_BIN } from './child-server.js';
import type { CliResult } from './db-tools.js';
import { admin, createImage, tempDir, upload, type TestServer } from './harness.js';
import { random } from './streaming.js';

const ADMIN = admin();

/** Runs `node bin/ocellus.js scrub ARGS…` against `server`'s database and data directory. */
export function scrubCli(server: TestServer, args: string[], defaults = ''): Promise<CliResult> {
  const dir = tempDir('ocellus-scrub-conf-');
  const file = path.join(dir, 'scrub.conf');
  fs.writeFileSync(file, `[DEFAULT]\nupload_heartbeat_interval = 1\n${defaults}\n[database]\nconnection = ${server.dbUrl}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OCELLUS_BIN, 'scrub', '--config', file, '--data-dir', server.dataDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ status, stdout, stderr });
    });
  });
}

/** `ocellus scrub --daemon` as a child process; `stop()` sends SIGTERM and resolves with its exit code (SIGKILL after 10 s). */
export function spawnScrubDaemon(server: TestServer, defaults = '') {
  const dir = tempDir('ocellus-scrub-conf-');
  const file = path.join(dir, 'scrub.conf');
  fs.writeFileSync(file, `[DEFAULT]\nupload_heartbeat_interval = 1\n${defaults}\n[database]\nconnection = ${server.dbUrl}\n`);
  const child = spawn(process.execPath, [OCELLUS_BIN, 'scrub', '--daemon', '--config', file, '--data-dir', server.dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => output,
    async stop(): Promise<number | null> {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      fs.rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/** A scrubber in this process on `server`'s database and stores; `deletes` counts each store delete by URL. */
export async function openScrubber(server: TestServer, opts: { scrubTimeMs?: number; poolSize?: number; now?: () => number; deletes?: Map<string, number> } = {}) {
  const config = loadConfig({ dataDir: server.dataDir, overrides: [{ section: 'database', name: 'connection', value: server.dbUrl }], warn: () => undefined });
  const db: DatabaseHandle = openDatabase(server.dbUrl);
  const opened = await StoreRegistry.open(config.stores, () => undefined);
  const deletes = opts.deletes;
  const stores = deletes ? new StoreRegistry(opened.all().map((b) => ({ ...b, store: counting(b.store, deletes) })), opened.multiStore) : opened;
  const uow = new SqlUnitOfWork(db);
  const leases = new Leases(uow, 1000);
  const scrubber = new Scrubber({ uow, leases, cleanup: new DataCleanup(uow, stores, leases), scrubTimeMs: opts.scrubTimeMs ?? 0, poolSize: opts.poolSize ?? 1, log: () => undefined, now: opts.now });
  return { scrubber, db, close: async () => { stores.close(); await db.destroy(); } };
}

/** The real store, with every delete call counted by URL. */
export function counting(store: BlobStore, deletes: Map<string, number>): BlobStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'delete') {
        return (url: string) => {
          deletes.set(url, (deletes.get(url) ?? 0) + 1);
          return target.delete(url);
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export async function activeImage(server: TestServer, size = 4096, fields: Record<string, unknown> = {}): Promise<{ id: string; data: Buffer }> {
  const id = await createImage(server.url, ADMIN, fields);
  const data = random(size);
  const r = await upload(server.url, id, data, ADMIN);
  assert.equal(r.status, 204, r.text);
  return { id, data };
}

export async function statusInDb(db: DatabaseHandle, id: string): Promise<{ status: string; deleted: number; locations: string[] }> {
  const row = await db.selectFrom('images').select(['status', 'deleted']).where('id', '=', id).executeTakeFirstOrThrow();
  const locs = await db.selectFrom('image_locations').select('status').where('image_id', '=', id).orderBy('created_at').execute();
  return { status: row.status, deleted: Number(row.deleted), locations: locs.map((l) => l.status) };
}

export const imageFile = (server: TestServer, id: string) => path.join(server.dataDir, 'images', id);
