/**
 * Helpers of the scrubber tests: `ocellus scrub` as a child process on a test server's database
 * and data directory, a Scrubber in this process (its store deletes counted), images with data.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
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

/** Scrub processes still running: killed when the test process exits, whatever a test did. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts `node bin/ocellus.js scrub ARGS…` on `server`'s database and data directory (more
 * `[DEFAULT]` lines in `defaults`); `done` settles when it exits, with what it printed.
 */
function spawnScrub(server: TestServer, args: string[], defaults: string): { child: ChildProcess; output: () => CliResult; done: Promise<CliResult> } {
  const dir = tempDir('ocellus-scrub-conf-');
  const file = path.join(dir, 'scrub.conf');
  fs.writeFileSync(file, `[DEFAULT]\nupload_heartbeat_interval = 1\n${defaults}\n[database]\nconnection = ${server.dbUrl}\n`);
  const child = spawn(process.execPath, [OCELLUS_BIN, 'scrub', '--config', file, '--data-dir', server.dataDir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => {
      running.delete(child);
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ status, stdout, stderr });
    });
  });
  return { child, output: () => ({ status: child.exitCode, stdout, stderr }), done };
}

/** Runs `ocellus scrub ARGS…` to its end (killed after 60 s). */
export async function scrubCli(server: TestServer, args: string[], defaults = ''): Promise<CliResult> {
  const run = spawnScrub(server, args, defaults);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), 60_000);
  try {
    return await run.done;
  } finally {
    clearTimeout(timer);
  }
}

/** `ocellus scrub --daemon`; `stop()` sends SIGTERM and resolves with its exit code (SIGKILL after 10 s). */
export function spawnScrubDaemon(server: TestServer, defaults = '') {
  const run = spawnScrub(server, ['--daemon'], defaults);
  return {
    output: () => `${run.output().stdout}${run.output().stderr}`,
    async stop(): Promise<number | null> {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
      const timer = setTimeout(() => run.child.kill('SIGKILL'), 10_000);
      try {
        return (await run.done).status;
      } finally {
        clearTimeout(timer);
      }
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
