/**
 * Small reads: the request rate of `GET /v2/images/{id}` and `GET /v2/images?limit=20` at
 * concurrency 16, next to the rate at which a trivial `node:http` server answers a fixed document
 * of the same size to the same client — the ceiling for small GETs on the machine at hand.
 *
 * Ocellus runs as a child process on the embedded default (SQLite, fresh data dir) with
 * `[paste_deploy] flavor = noauth` set explicitly, so trusted identity headers work whatever the
 * default flavor is. 1,000 images are created through the API (a few properties and tags each,
 * four visibilities, ten owner projects); the reads are made as a member of one of those projects.
 *
 * The client (this process) keeps 16 sockets alive and runs 16 request loops: a warm-up, then a
 * fixed measuring window; the rate counts the responses completed inside the window.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type Cleanup, peerPort, startChild, startOcellus } from './children.js';

const JSON_PEER_FLAG = '--json-peer';
const CONCURRENCY = 16;
/** A request that has not answered after this long fails the measurement (the phase is bounded). */
const REQUEST_TIMEOUT_MS = 10_000;

export const READ_TARGETS = { image: 0.35, list: 0.15 } as const;

export interface ReadsOptions {
  runs: number;
  tmpdir: string;
  serverNodeOptions: string[];
  /** Measuring window per run, seconds (after a 1 s warm-up). */
  seconds: number;
  images: number;
}

export interface ReadsSeries {
  key: 'ceiling' | 'image' | 'list';
  label: string;
  /** req/s of each run. */
  runs: number[];
  best: number;
  bodyBytes: number;
  /** The server process's CPU use during each run's window, in cores (1.0 = one core busy). */
  serverCores: number[];
}

export interface ReadsResult {
  images: number;
  concurrency: number;
  seconds: number;
  series: ReadsSeries[];
  targets: { name: string; value: number; target: string; pass: boolean }[];
}

// ---------------------------------------------------------------------------------------------
// The ceiling: a plain node:http server answering one fixed JSON document (run as a child).

async function jsonPeer(bodyFile: string): Promise<void> {
  const body = fs.readFileSync(bodyFile);
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
    res.end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`);
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

// ---------------------------------------------------------------------------------------------
// The client

interface Answer { status: number; body: string }

function request(agent: http.Agent, url: URL, headers: Record<string, string>, method = 'GET', json?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = json === undefined ? undefined : JSON.stringify(json);
    const req = http.request(
      { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${method} ${url.pathname}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** One GET whose body is discarded; resolves with the status code. */
function getStatus(agent: http.Agent, host: string, port: string, pathname: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ agent, host, port, path: pathname, headers }, (res) => {
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
      res.resume();
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`GET ${pathname}: no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
  });
}

/** utime + stime of all threads of a process, in ms (clock ticks are 1/100 s on Linux). */
function cpuMs(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}

/**
 * CONCURRENCY request loops on one keep-alive agent: `warmupMs` unmeasured, then `windowMs`
 * during which completed responses are counted. Any status other than 200 fails the measurement.
 */
async function load(agent: http.Agent, url: string, headers: Record<string, string>, warmupMs: number, windowMs: number, pid: number): Promise<{ rps: number; cores: number }> {
  const u = new URL(url);
  const pathname = u.pathname + u.search;
  const t0 = performance.now();
  const windowStart = t0 + warmupMs;
  const windowEnd = windowStart + windowMs;
  let counted = 0;
  let cpuAtStart = NaN;
  let startedAt = NaN;
  const loop = async () => {
    for (;;) {
      const sent = performance.now();
      if (sent >= windowEnd) return;
      const status = await getStatus(agent, u.hostname, u.port, pathname, headers);
      if (status !== 200) throw new Error(`GET ${pathname}: status ${status}`);
      const done = performance.now();
      if (done >= windowStart && done < windowEnd) counted++;
    }
  };
  const timer = setTimeout(() => {
    cpuAtStart = cpuMs(pid);
    startedAt = performance.now();
  }, warmupMs);
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  } finally {
    clearTimeout(timer);
  }
  const cpu = cpuMs(pid) - cpuAtStart;
  return { rps: counted / (windowMs / 1000), cores: cpu / (performance.now() - startedAt) };
}

// ---------------------------------------------------------------------------------------------
// The catalogue

const VISIBILITIES = ['public', 'private', 'shared', 'community'] as const;
const PROJECTS = 10;

function admin(project: string): Record<string, string> {
  return { 'x-project-id': project, 'x-user-id': `admin-of-${project}`, 'x-roles': 'admin,member,reader', accept: 'application/json' };
}

/** Image i: owner project-(i mod 10), visibility cycling, four extra properties and three tags. */
function imageBody(i: number): Record<string, unknown> {
  return {
    name: `bench-${String(i).padStart(5, '0')}`,
    disk_format: i % 3 === 0 ? 'qcow2' : 'raw',
    container_format: 'bare',
    visibility: VISIBILITIES[i % VISIBILITIES.length],
    min_disk: i % 20,
    min_ram: 512 * (i % 4),
    tags: [`t${i % 7}`, `u${i % 11}`, 'bench'],
    os_distro: `distro-${i % 13}`,
    os_version: `${10 + (i % 5)}.${i % 3}`,
    hw_disk_bus: i % 5 === 0 ? 'scsi' : 'virtio',
    description: `benchmark image number ${i}, created through the API`,
  };
}

async function createCatalogue(agent: http.Agent, base: string, count: number): Promise<string[]> {
  const ids: string[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const got = await request(agent, new URL('/v2/images', base), admin(`project-${i % PROJECTS}`), 'POST', imageBody(i));
      if (got.status !== 201) throw new Error(`create image ${i}: ${got.status} ${got.body}`);
      ids[i] = (JSON.parse(got.body) as { id: string }).id;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return ids;
}

// ---------------------------------------------------------------------------------------------

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export async function benchReads(cleanup: Cleanup, o: ReadsOptions, progress: (msg: string) => void): Promise<{ lines: string[]; result: ReadsResult }> {
  const dir = await fsp.mkdtemp(path.join(o.tmpdir, 'ocellus-bench-reads-'));
  cleanup.add(`removing ${dir}`, () => fsp.rm(dir, { recursive: true, force: true }));
  const configFile = path.join(dir, 'ocellus.conf');
  await fsp.writeFile(configFile, '[paste_deploy]\nflavor = noauth\n');

  const dataDir = path.join(dir, 'data');
  const serve = () => startOcellus(cleanup, dataDir, o.serverNodeOptions, ['--config', configFile]);
  let ocellus = await serve();
  const setupAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });

  progress(`creating ${o.images} images through the API (Ocellus pid ${ocellus.pid} at ${ocellus.base})`);
  const t0 = performance.now();
  const ids = await createCatalogue(setupAgent, ocellus.base, o.images);
  progress(`  ${o.images} images in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // The reads go to a new server process on the same data: its CPU profile (--cpu-prof in
  // --server-node-options) then shows the reads, not the catalogue's creation.
  setupAgent.destroy();
  await ocellus.stop();
  ocellus = await serve();
  progress(`Ocellus restarted on the same data: pid ${ocellus.pid} at ${ocellus.base}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  cleanup.add('closing the client agent', async () => agent.destroy());

  const memberProject = 'project-3';
  const member = { 'x-project-id': memberProject, 'x-user-id': 'bench-member', 'x-roles': 'member,reader', accept: 'application/json' };
  // One of the member project's own images (private: only the owner and admins see it).
  const imageId = ids[3]!;
  const imageUrl = `${ocellus.base}/v2/images/${imageId}`;
  const listUrl = `${ocellus.base}/v2/images?limit=20`;
  const shown = await request(agent, new URL(imageUrl), member);
  if (shown.status !== 200) throw new Error(`GET image as member: ${shown.status} ${shown.body}`);
  const listed = await request(agent, new URL(listUrl), member);
  const listedCount = (JSON.parse(listed.body) as { images: unknown[] }).images?.length;
  if (listed.status !== 200 || listedCount !== 20) throw new Error(`list as member: ${listed.status}, ${listedCount} images`);

  // The ceiling serves the very document GET /v2/images/{id} answered.
  const bodyFile = path.join(dir, 'image.json');
  await fsp.writeFile(bodyFile, shown.body);
  const peerChild = startChild(cleanup, 'the JSON peer', [fileURLToPath(import.meta.url), JSON_PEER_FLAG, bodyFile]);
  const peer = `http://127.0.0.1:${await peerPort(peerChild)}`;

  const series: ReadsSeries[] = [
    { key: 'ceiling', label: 'plain node:http, fixed image JSON', runs: [], best: 0, bodyBytes: Buffer.byteLength(shown.body), serverCores: [] },
    { key: 'image', label: 'Ocellus GET /v2/images/{id}', runs: [], best: 0, bodyBytes: Buffer.byteLength(shown.body), serverCores: [] },
    { key: 'list', label: 'Ocellus GET /v2/images?limit=20', runs: [], best: 0, bodyBytes: Buffer.byteLength(listed.body), serverCores: [] },
  ];
  const targets = { ceiling: { url: `${peer}/`, pid: peerChild.proc.pid!, headers: member }, image: { url: imageUrl, pid: ocellus.pid, headers: member }, list: { url: listUrl, pid: ocellus.pid, headers: member } };
  for (let round = 1; round <= o.runs; round++) {
    progress(`reads round ${round}/${o.runs}`);
    for (const s of series) {
      const t = targets[s.key];
      const r = await load(agent, t.url, t.headers, 1000, o.seconds * 1000, t.pid);
      s.runs.push(r.rps);
      s.serverCores.push(r.cores);
      progress(`  ${pad(s.label, 40)} ${pad(r.rps.toFixed(0), 7, true)} req/s  (server ${r.cores.toFixed(2)} cores)`);
    }
  }
  for (const s of series) s.best = Math.max(...s.runs);
  const ceiling = series[0]!.best;
  const ratio = (k: 'image' | 'list') => series.find((s) => s.key === k)!.best / ceiling;
  const result: ReadsResult = {
    images: o.images,
    concurrency: CONCURRENCY,
    seconds: o.seconds,
    series,
    targets: [
      { name: 'GET image / ceiling', value: ratio('image'), target: `>= ${READ_TARGETS.image}`, pass: ratio('image') >= READ_TARGETS.image },
      { name: 'list of 20 / ceiling', value: ratio('list'), target: `>= ${READ_TARGETS.list}`, pass: ratio('list') >= READ_TARGETS.list },
    ],
  };

  const lines: string[] = [];
  const runCols = Array.from({ length: o.runs }, (_, i) => pad(`run ${i + 1}`, 8, true)).join(' ');
  lines.push('', `Small reads: concurrency ${CONCURRENCY}, keep-alive, ${o.seconds} s window after 1 s warm-up, best of ${o.runs}; ${o.images} images, as a project member`, '');
  lines.push(`${pad('measurement (req/s)', 42)} ${runCols} ${pad('best', 8, true)} ${pad('/ceiling', 9, true)}  body`);
  for (const s of series) {
    lines.push(`${pad(s.label, 42)} ${s.runs.map((v) => pad(v.toFixed(0), 8, true)).join(' ')} ${pad(s.best.toFixed(0), 8, true)} ${pad((s.best / ceiling).toFixed(3), 9, true)}  ${s.bodyBytes} B`);
  }
  lines.push(`server CPU during each run (cores): ${series.map((s) => `${s.key} ${s.serverCores.map((c) => c.toFixed(2)).join(', ')}`).join('; ')}`);
  // Less sensitive to a busy machine than the rate: what one request costs the server.
  lines.push(`server CPU per request, best run (µs): ${series.map((s) => `${s.key} ${Math.min(...s.runs.map((r, i) => (1e6 * s.serverCores[i]!) / r)).toFixed(0)}`).join('; ')}`);
  lines.push('', `${pad('target', 42)} ${pad('value', 10, true)} ${pad('target', 10, true)}  result`);
  for (const t of result.targets) lines.push(`${pad(t.name, 42)} ${pad(t.value.toFixed(3), 10, true)} ${pad(t.target, 10, true)}  ${t.pass ? 'PASS' : 'MISS'}`);
  return { lines, result };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === JSON_PEER_FLAG) {
  await jsonPeer(process.argv[3]!);
}
