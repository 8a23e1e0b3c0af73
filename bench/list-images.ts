import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/options.js';
import { ImageRepository } from '../src/db/image-repository.js';
import type { ImageRecord } from '../src/db/image-records.js';
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

/** GET /v2/images on a catalogue of `count` images with filters, as a project member and as admin. */
export async function benchListImages(count = 5000, repeats = 200): Promise<ListBenchResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocellus-bench-list-'));
  const service = await createService(loadConfig({ dataDir, overrides: [{ section: 'DEFAULT', name: 'log_level', value: 'silent' }], warn: () => undefined }));
  try {
    const repo = new ImageRepository(service.db);
    const now = Date.now();
    for (let i = 0; i < count; i++) await repo.insert(fixture(i, now));
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
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await benchListImages();
  console.log(`GET /v2/images over ${r.images} images (round trip over loopback, ${200} requests each):`);
  for (const c of r.cases) console.log(`  ${c.query.padEnd(70)} ${c.as.padEnd(7)} rows ${String(c.rows).padStart(3)}  median ${c.medianMs.toFixed(2)} ms  p95 ${c.p95Ms.toFixed(2)} ms`);
}
