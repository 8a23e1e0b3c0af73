import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../src/config/options.js';
import { SqlImageRepository } from '../src/db/image-repository.js';
import type { ImageRecord } from '../src/domain/image-model.js';
import { createService } from '../src/service.js';

export interface ListBenchResult {
  images: number;
  cases: { query: string; as: string; rows: number; medianMs: number; p95Ms: number }[];
}

const VISIBILITIES = ['public', 'private', 'shared', 'community'];

function fixture(i: number, now: number): ImageRecord {
  return {
    id: randomUUID(),
    name: `image-${String(i).padStart(5, '0')}`,
    status: i % 10 === 0 ? 'queued' : 'active',
    visibility: VISIBILITIES[i % 4]!,
    protected: false,
    os_hidden: i % 50 === 0,
    checksum: null,
    os_hash_algo: null,
    os_hash_value: null,
    owner: `project-${i % 20}`,
    size: i % 10 === 0 ? null : 1024 * (i % 997),
    virtual_size: null,
    min_disk: 0,
    min_ram: 0,
    container_format: 'bare',
    disk_format: i % 3 === 0 ? 'qcow2' : 'raw',
    created_at: now - i * 1000,
    updated_at: now - i * 1000,
    deleted_at: null,
    tags: [`t${i % 7}`, `u${i % 11}`],
    properties: { hw_disk_bus: i % 5 === 0 ? 'scsi' : 'virtio', os_distro: `distro-${i % 13}` },
    locations: [],
  };
}

/** Admin URL of the PostgreSQL server the benchmark may create a throw-away database on. */
const PG_ADMIN_URL = process.env.OCELLUS_BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function pgAdmin(sqlText: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    await client.query(sqlText);
  } finally {
    await client.end();
  }
}

/**
 * GET /v2/images on a catalogue of `count` images with filters, as a project member and as
 * admin, on the embedded SQLite database or on a throw-away PostgreSQL database.
 */
export async function benchListImages(count = 5000, repeats = 200, database: 'sqlite' | 'postgresql' = 'sqlite'): Promise<ListBenchResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocellus-bench-list-'));
  const dbName = `ocellus_bench_${randomUUID().slice(0, 8)}`;
  const overrides: NonNullable<Parameters<typeof loadConfig>[0]>['overrides'] = [
    { section: 'DEFAULT', name: 'log_level', value: 'silent' },
    { section: 'paste_deploy', name: 'flavor', value: 'noauth' }, // the callers below are identity headers
  ];
  if (database === 'postgresql') {
    await pgAdmin(`create database ${dbName}`);
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${dbName}`;
    overrides.push({ section: 'database', name: 'connection', value: url.href }, { section: 'database', name: 'auto_sync', value: 'true' });
  }
  const service = await createService(loadConfig({ dataDir, overrides, warn: () => undefined }));
  try {
    const repo = new SqlImageRepository(service.db);
    const now = Date.now();
    for (let i = 0; i < count; i++) await repo.insert(fixture(i, now));
    // A catalogue that grew over time has planner statistics (autovacuum's ANALYZE); one bulk-loaded
    // a moment ago does not yet, and PostgreSQL would plan blind.
    if (database === 'postgresql') await sql`analyze`.execute(service.db);
    const base = await service.app.listen({ host: '127.0.0.1', port: 0 });
    const member = { 'x-project-id': 'project-3', 'x-roles': 'member,reader' };
    const admin = { 'x-project-id': 'admin', 'x-roles': 'admin,member,reader' };
    const cases: [string, string, Record<string, string>][] = [
      ['', 'member', member],
      ['?name=image-01234', 'member', member],
      ['?tag=t3&tag=u5', 'member', member],
      ['?hw_disk_bus=scsi&sort=name:asc', 'member', member],
      ['?visibility=public&disk_format=qcow2&size_min=10000&size_max=500000', 'member', member],
      ['?status=active&sort_key=size&sort_dir=asc&limit=100', 'admin', admin],
      ['?os_distro=distro-4&visibility=all', 'admin', admin],
    ];
    const results: ListBenchResult['cases'] = [];
    for (const [query, as, headers] of cases) {
      const times: number[] = [];
      let rows = 0;
      for (let r = 0; r < repeats; r++) {
        const t0 = performance.now();
        const res = await fetch(`${base}/v2/images${query}`, { headers });
        const body = (await res.json()) as { images: unknown[] };
        times.push(performance.now() - t0);
        rows = body.images.length;
      }
      times.sort((a, b) => a - b);
      results.push({ query: query || '(default list)', as, rows, medianMs: times[Math.floor(times.length / 2)]!, p95Ms: times[Math.floor(times.length * 0.95)]! });
    }
    return { images: count, cases: results };
  } finally {
    await service.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (database === 'postgresql') await pgAdmin(`drop database if exists ${dbName} with (force)`);
  }
}

/** Null if the benchmark's PostgreSQL server answers, else why not. */
export async function postgresUnreachable(): Promise<string | null> {
  try {
    await pgAdmin('select 1');
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

export function printListBench(r: ListBenchResult, label: string): void {
  console.log(`GET /v2/images over ${r.images} images on ${label} (round trip over loopback):`);
  for (const c of r.cases) console.log(`  ${c.query.padEnd(70)} ${c.as.padEnd(7)} rows ${String(c.rows).padStart(3)}  median ${c.medianMs.toFixed(2)} ms  p95 ${c.p95Ms.toFixed(2)} ms`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printListBench(await benchListImages(5000), 'SQLite');
  const why = await postgresUnreachable();
  if (why) console.log(`PostgreSQL case skipped: ${why} (set OCELLUS_BENCH_PG_URL to an admin URL)`);
  else printListBench(await benchListImages(1000, 200, 'postgresql'), 'PostgreSQL');
}
