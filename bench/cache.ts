/**
 * Image cache benchmark: repeated downloads of one image stored in Swift (the test Swift of
 * scripts/swift/start.sh), through an Ocellus without the cache and through one with it, against
 * the machine's own local read speed measured in the same run.
 *
 *   node dist/bench/cache.js [--size MiB (1024)] [--runs N (3)] [--tmpdir DIR] [--out FILE]
 *                            [--server-node-options=OPTS]
 *
 * Two Ocellus children share one data dir (database) and one Swift store: `plain` (flavor
 * noauth, no cache: every download comes from Swift, checked against the image's sha512) and
 * `cached` (flavor noauth+caching, image_cache_dir in the bench dir). The image is uploaded once.
 * Each round measures, alternating the order from round to round:
 * - disk read: `dd iflag=direct bs=4M` of the cache entry's file — the local disk's own read speed
 *   for these very bytes, past the page cache (O_DIRECT): what the cache's disk can deliver;
 * - page-cache read: a Node read stream (1 MiB reads) of the same file into a null sink, in this
 *   process — memory speed when the file is in the page cache (as a fresh entry is), a bound no
 *   HTTP download over loopback reaches;
 * - file server: a trivial node:http server (a separate process) streaming that file to this
 *   process over loopback — the ceiling of any local HTTP download;
 * - Swift download through `plain`;
 * - cold download through `cached` (its entry removed first with DELETE /v2/cache/{id}): Swift,
 *   checked and written to the cache as it streams;
 * - cached download through `cached`: served from the entry.
 * Best of the runs counts. The benchmark reports; it does not assert (exit 0 on a missed target).
 * Without a test Swift it says so and exits 0.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Cleanup, freePort, projectRoot, readAnswer, ServerProbe, startChild, startOcellus, type Answer } from './children.js';
import { swiftServer, swiftSkipReason, type SwiftServerInfo } from '../test/support/swift-server.js';

const MiB = 1 << 20;
const GiB = 1 << 30;
const TARGET = 0.9;
const IDENTITY = { 'x-project-id': 'bench', 'x-user-id': 'bench', 'x-roles': 'admin,member' };

const mibps = (size: number, ms: number) => size / MiB / (ms / 1000);
const progress = (msg: string) => process.stderr.write(`${msg}\n`);
const pad = (s: string, n: number, right = false) => (right ? s.padStart(n) : s.padEnd(n));

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function request(method: string, url: string, headers: Record<string, string>, body?: Buffer | string | { file: string; size: number }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const len = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.byteLength(body) : body.size;
    const req = http.request(url, { method, agent: false, headers: len === undefined ? headers : { ...headers, 'content-length': String(len) } }, (res) => readAnswer(res, {}, resolve, reject));
    req.on('error', reject);
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else fs.createReadStream(body.file, { highWaterMark: MiB }).on('error', (err) => req.destroy(err)).pipe(req);
  });
}

/** Writes `size` bytes (a 16 MiB random pattern repeated) to `file`; returns its md5. */
async function writeSource(file: string, size: number): Promise<string> {
  const pattern = randomBytes(16 * MiB);
  const md5 = createHash('md5');
  const fh = await fsp.open(file, 'w');
  try {
    for (let left = size; left > 0;) {
      const piece = pattern.subarray(0, Math.min(pattern.length, left));
      md5.update(piece);
      await fh.write(piece);
      left -= piece.length;
    }
  } finally {
    await fh.close();
  }
  return md5.digest('hex');
}

async function download(url: string, size: number, headers: Record<string, string> = IDENTITY): Promise<number> {
  let got: Answer | undefined;
  const ms = await timed(async () => {
    got = await request('GET', url, headers);
  });
  if (got?.status !== 200 || got.bytes !== size) throw new Error(`GET ${url}: status ${got?.status}, ${got?.bytes} bytes of ${size}`);
  return ms;
}

/** `dd iflag=direct`: the file read from the disk itself (O_DIRECT, no page cache); its own timing. */
async function diskRead(file: string, size: number): Promise<number> {
  const out = await new Promise<string>((resolve, reject) => {
    const dd = spawn('dd', [`if=${file}`, 'of=/dev/null', 'bs=4M', 'iflag=direct'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    dd.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    dd.on('error', reject);
    dd.on('close', (code) => (code === 0 ? resolve(err) : reject(new Error(`dd exited ${code}: ${err.trim()}`))));
  });
  const m = /^(\d+) bytes .* copied, ([\d.]+) s/m.exec(out);
  if (!m || Number(m[1]) !== size) throw new Error(`dd: unexpected output ${out.trim()}`);
  return Number(m[2]) * 1000;
}

async function localRead(file: string, size: number): Promise<number> {
  let n = 0;
  const ms = await timed(async () => {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: MiB })) n += (chunk as Buffer).length;
  });
  if (n !== size) throw new Error(`local read: ${n} bytes of ${size}`);
  return ms;
}

/** A trivial file server in its own process: GET / streams `file` (1 MiB reads). */
async function startFileServer(cleanup: Cleanup, file: string): Promise<string> {
  const port = await freePort();
  const script = `const fs=require('fs');require('http').createServer((q,r)=>{r.writeHead(200,{'content-length':fs.statSync(process.argv[1]).size});fs.createReadStream(process.argv[1],{highWaterMark:1<<20}).pipe(r)}).listen(Number(process.argv[2]),'127.0.0.1')`;
  startChild(cleanup, 'file server', ['-e', script, file, String(port)]);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await fetch(`${base}/`, { method: 'HEAD' });
      return base;
    } catch {
      if (i > 100) throw new Error('the file server did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function swiftConfig(info: SwiftServerInfo, container: string, flavor: string, cacheDir?: string): string {
  return `[paste_deploy]
flavor = ${flavor}

[DEFAULT]
${cacheDir ? `image_cache_dir = ${cacheDir}\n` : ''}enabled_backends = objects:swift

[glance_store]
default_backend = objects

[objects]
swift_store_auth_address = ${info.authUrl}
swift_store_auth_version = 1
swift_store_user = ${info.user}
swift_store_key = ${info.key}
swift_store_container = ${container}
swift_store_create_container_on_put = true
`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '1024' },
      runs: { type: 'string', default: '3' },
      tmpdir: { type: 'string', default: os.tmpdir() },
      out: { type: 'string', default: path.join(projectRoot, 'dist', 'bench-cache-results.json') },
      'server-node-options': { type: 'string', default: '--initial-old-space-size=96' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('Usage: node dist/bench/cache.js [--size MiB (1024)] [--runs N (3)] [--tmpdir DIR] [--out FILE] [--server-node-options=OPTS]\n');
    return;
  }
  const sizeMiB = Number(values.size);
  const runs = Number(values.runs);
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1 || !Number.isInteger(runs) || runs < 1) throw new Error('--size and --runs must be positive integers');
  const info = await swiftServer();
  if (!info) {
    process.stdout.write(`cache benchmark skipped: ${swiftSkipReason()}\n`);
    return;
  }
  const cleanup = new Cleanup();
  const onSignal = () => void cleanup.run().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await bench(cleanup, info, sizeMiB * MiB, runs, values.tmpdir!, path.resolve(values.out!), values['server-node-options']!.split(/\s+/).filter((x) => x !== ''));
  } finally {
    await cleanup.run();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function bench(cleanup: Cleanup, info: SwiftServerInfo, size: number, runs: number, tmpdir: string, out: string, nodeOptions: string[]): Promise<void> {
  const dir = await fsp.mkdtemp(path.join(tmpdir, 'ocellus-bench-cache-'));
  cleanup.add(`removing ${dir}`, () => fsp.rm(dir, { recursive: true, force: true }));
  const source = path.join(dir, 'source.bin');
  progress(`writing ${size / MiB} MiB of test data to ${source}`);
  const md5 = await writeSource(source, size);

  const container = `ocellus-bench-cache-${process.pid}-${Date.now().toString(36)}`;
  const cacheDir = path.join(dir, 'image-cache');
  const dataDir = path.join(dir, 'ocellus-data');
  await fsp.writeFile(path.join(dir, 'plain.conf'), swiftConfig(info, container, 'noauth'));
  await fsp.writeFile(path.join(dir, 'cached.conf'), swiftConfig(info, container, 'noauth+caching', cacheDir));
  const plain = await startOcellus(cleanup, dataDir, nodeOptions, ['--config', path.join(dir, 'plain.conf')]);
  const cached = await startOcellus(cleanup, dataDir, nodeOptions, ['--config', path.join(dir, 'cached.conf')]);
  progress(`Ocellus without cache (pid ${plain.pid}) at ${plain.base}, with cache (pid ${cached.pid}) at ${cached.base}`);

  cleanup.add(`removing the Swift container ${container}`, async () => {
    const auth = await request('GET', info.authUrl, { 'x-auth-user': info.user, 'x-auth-key': info.key });
    const token = auth.headers['x-auth-token'];
    const storage = auth.headers['x-storage-url'];
    if (typeof token === 'string' && typeof storage === 'string') await request('DELETE', `${storage}/${container}`, { 'x-auth-token': token });
  });
  const created = await request('POST', `${plain.base}/v2/images`, { ...IDENTITY, 'content-type': 'application/json' }, JSON.stringify({ name: 'bench-cache', disk_format: 'raw', container_format: 'bare' }));
  if (created.status !== 201) throw new Error(`create image: ${created.status} ${created.body}`);
  const id = (JSON.parse(created.body) as { id: string }).id;
  cleanup.add('deleting the image', async () => {
    await request('DELETE', `${plain.base}/v2/images/${id}`, IDENTITY);
  });
  progress('uploading the image to Swift');
  const up = await request('PUT', `${plain.base}/v2/images/${id}/file`, { ...IDENTITY, 'content-type': 'application/octet-stream' }, { file: source, size });
  if (up.status !== 204) throw new Error(`upload: ${up.status} ${up.body}`);
  const fileUrl = (base: string) => `${base}/v2/images/${id}/file`;
  const entry = path.join(cacheDir, id);

  // The first download fills the cache; the entry must be there (committed) before the rounds.
  await download(fileUrl(cached.base), size);
  const listed = async () => {
    const r = await request('GET', `${cached.base}/v2/cache`, IDENTITY);
    return (JSON.parse(r.body) as { cached_images: { image_id: string }[] }).cached_images.some((e) => e.image_id === id);
  };
  const committed = async () => {
    for (let i = 0; !(await listed()); i++) {
      if (i > 600) throw new Error('the cache entry was never committed');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await committed();
  const md5Cached = createHash('md5');
  for await (const c of fs.createReadStream(entry)) md5Cached.update(c as Buffer);
  if (md5Cached.digest('hex') !== md5) throw new Error('the cache entry does not hold the image');
  const fileServer = await startFileServer(cleanup, entry);

  const series: Record<string, { label: string; ms: number[]; cpuMs: number[] }> = {};
  const measure = async (key: string, label: string, fn: () => Promise<number>, pid?: number) => {
    const probe = pid ? new ServerProbe(pid) : undefined;
    probe?.start();
    const ms = await fn();
    const cpu = probe?.stop().cpuMs;
    const s = (series[key] ??= { label, ms: [], cpuMs: [] });
    s.ms.push(ms);
    if (cpu !== undefined) s.cpuMs.push(cpu);
    progress(`  ${pad(label, 48)} ${pad(mibps(size, ms).toFixed(1), 9, true)} MiB/s`);
  };
  const steps = [
    () => measure('diskRead', 'disk read of the cache file (dd, O_DIRECT)', () => diskRead(entry, size)),
    () => measure('localRead', 'page-cache read of the same (Node stream)', () => localRead(entry, size)),
    () => measure('fileServer', 'trivial node file server, same file', () => download(`${fileServer}/`, size, {})),
    () => measure('swift', 'Ocellus without cache (Swift, checked)', () => download(fileUrl(plain.base), size), plain.pid),
    async () => {
      const del = await request('DELETE', `${cached.base}/v2/cache/${id}`, IDENTITY);
      if (del.status !== 204) throw new Error(`DELETE /v2/cache/${id}: ${del.status} ${del.body}`);
      await measure('cold', 'Ocellus with cache, cold (Swift + fill)', () => download(fileUrl(cached.base), size), cached.pid);
      await committed();
    },
    () => measure('cached', 'Ocellus with cache, cached', () => download(fileUrl(cached.base), size), cached.pid),
  ];
  for (let round = 1; round <= runs; round++) {
    progress(`round ${round}/${runs}`);
    for (const step of round % 2 === 1 ? steps : [...steps].reverse()) await step();
  }

  const best = (key: string) => Math.max(...series[key]!.ms.map((ms) => mibps(size, ms)));
  const cpuPerGiB = (key: string) => (series[key]!.cpuMs.length ? Math.min(...series[key]!.cpuMs) / 1000 / (size / GiB) : NaN);
  const lines = ['', `Ocellus image cache benchmark: ${size / MiB} MiB from Swift, ${runs} run(s), best counts; node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`, ''];
  lines.push(`${pad('measurement (MiB/s)', 48)} ${Array.from({ length: runs }, (_, i) => pad(`run ${i + 1}`, 9, true)).join(' ')} ${pad('best', 9, true)} ${pad('CPU s/GiB', 10, true)}`);
  for (const [key, s] of Object.entries(series)) {
    const cpu = cpuPerGiB(key);
    lines.push(`${pad(s.label, 48)} ${s.ms.map((ms) => pad(mibps(size, ms).toFixed(1), 9, true)).join(' ')} ${pad(best(key).toFixed(1), 9, true)} ${pad(Number.isNaN(cpu) ? '-' : cpu.toFixed(2), 10, true)}`);
  }
  const targets = [
    { name: 'cached download / disk read (O_DIRECT)', value: best('cached') / best('diskRead'), target: TARGET },
    { name: 'cached download / page-cache read', value: best('cached') / best('localRead'), target: null },
    { name: 'cached download / trivial file server', value: best('cached') / best('fileServer'), target: TARGET },
    { name: 'cached download / Swift download (speed-up)', value: best('cached') / best('swift'), target: null },
    { name: 'cold download / Swift download', value: best('cold') / best('swift'), target: null },
  ];
  lines.push('', `${pad('ratio', 48)} ${pad('value', 9, true)} ${pad('target', 9, true)}  result`);
  for (const t of targets) lines.push(`${pad(t.name, 48)} ${pad(t.value.toFixed(3), 9, true)} ${pad(t.target === null ? '' : `>= ${t.target}`, 9, true)}  ${t.target === null ? '' : t.value >= t.target ? 'PASS' : 'MISS'}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    sizeMiB: size / MiB,
    runs,
    throughputMiBps: Object.fromEntries(Object.entries(series).map(([key, s]) => [key, { label: s.label, runs: s.ms.map((ms) => Number(mibps(size, ms).toFixed(1))), best: Number(best(key).toFixed(1)) }])),
    ratios: targets.map((t) => ({ ...t, value: Number(t.value.toFixed(3)) })),
    loadAverage: os.loadavg(),
  };
  await fsp.mkdir(path.dirname(out), { recursive: true });
  await fsp.writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\nresults written to ${out}\n`);
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
}
