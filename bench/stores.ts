/**
 * Remote-store benchmark: uploads and downloads through Ocellus to Swift and to S3 (Swift's s3api)
 * on the test Swift of scripts/swift/start.sh, as ratios against a stock client moving the same
 * bytes to the same server in the same run.
 *
 *   node dist/bench/stores.js [--size MiB] [--runs N] [--only swift|s3] [--tmpdir DIR]
 *                             [--swift-segment-mb N] [--s3-part-mb N] [--s3-threads N]
 *                             [--out FILE] [--server-node-options=OPTS]
 *
 * The stock clients, doing what Ocellus does on the wire:
 * - Swift upload: curl PUTs the source as segments of the size Ocellus' swift store uses (one
 *   after the other, as the store does), then the SLO manifest (`?multipart-manifest=put`).
 *   Ocellus' PUT /file covers the same: its segments and its manifest (commit) before the 204.
 * - Swift download: curl GET of the SLO to /dev/null.
 * - S3 upload: @aws-sdk/client-s3, a multipart upload with Ocellus' part size and its parallelism
 *   (s3_store_thread_pools parts in flight: Ocellus' S3 writer keeps that many parts uploading).
 * - S3 download: GetObject, the body streamed into a null sink.
 * Ocellus runs as a child (multi-store `objects:swift, buckets:s3`, `[paste_deploy] flavor =
 * noauth`); an upload picks its store with X-Image-Meta-Store. Its downloads check the image's
 * md5 and sha512 on the way out (src/domain/download-verification.ts); the stock clients check
 * nothing but the byte count.
 *
 * The data is a 16 MiB random pattern repeated up to --size MiB in a source file; every upload
 * sends those bytes from that file. The measurements are interleaved round by round (the order of
 * stock and Ocellus alternates from one round to the next), repeated --runs times, and the best
 * run counts. Each round's objects are deleted (untimed) before the next. The benchmark reports;
 * it does not assert: the exit code is 0 even when a target is missed, and when no test Swift
 * can be started it says so and exits 0 (CI=true: 1).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { Cleanup, projectRoot, readAnswer, ServerProbe, startOcellus, type Answer } from './children.js';
import { planParts } from '../src/store/s3-part-sizes.js';
import { swiftServer, swiftSkipReason, type SwiftServerInfo } from '../test/support/swift-server.js';

const MiB = 1 << 20;
const GiB = 1 << 30;
const MB = 1e6;
const PATTERN_BYTES = 16 * MiB;
/** Chunk size of the client's file streams. */
const STREAM_CHUNK = MiB;
const TARGET = 0.85;
/** Trusted identity headers (noauth flavor): an admin of the bench project. */
const IDENTITY = { 'x-project-id': 'bench', 'x-user-id': 'bench', 'x-roles': 'admin,member' };

interface Expected { size: number; md5: string; sha512: string }

function progress(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

const mibps = (size: number, ms: number) => size / MiB / (ms / 1000);

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

// ---------------------------------------------------------------------------------------------
// The data

/** Writes the pattern repeated up to `size` bytes to `file`; returns its md5 and sha512. */
async function writeSource(file: string, size: number): Promise<Expected> {
  const pattern = randomBytes(PATTERN_BYTES);
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  const ws = fs.createWriteStream(file);
  const closed = once(ws, 'close');
  for (let left = size; left > 0;) {
    for (let at = 0; at < pattern.length && left > 0; at += MiB) {
      const piece = pattern.subarray(at, at + Math.min(MiB, left));
      left -= piece.length;
      md5.update(piece);
      sha512.update(piece);
      if (!ws.write(piece)) await once(ws, 'drain');
    }
  }
  ws.end();
  await closed;
  return { size, md5: md5.digest('hex'), sha512: sha512.digest('hex') };
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP (Ocellus' API and Swift's) from this process

/** A request; the body (a Buffer/string, or a file range streamed) and the answer counted, small answers kept as text. */
function request(
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: Buffer | string | { file: string; start: number; size: number },
  opts: { md5?: boolean } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const len = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.byteLength(body) : body.size;
    const req = http.request(url, { method, agent: false, headers: len === undefined ? headers : { ...headers, 'content-length': String(len) } }, (res) => {
      readAnswer(res, opts, resolve, reject);
    });
    req.on('error', reject);
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body);
    } else {
      const src = fs.createReadStream(body.file, { start: body.start, end: body.start + body.size - 1, highWaterMark: STREAM_CHUNK });
      src.on('error', (err) => req.destroy(err));
      src.pipe(req);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Ocellus

async function ocellusUpload(base: string, store: string, file: string, expected: Expected): Promise<{ ms: number; id: string }> {
  const created = await request('POST', `${base}/v2/images`, { ...IDENTITY, 'content-type': 'application/json' }, JSON.stringify({ name: `bench-${store}`, disk_format: 'raw', container_format: 'bare' }));
  if (created.status !== 201) throw new Error(`create image: ${created.status} ${created.body}`);
  const id = (JSON.parse(created.body) as { id: string }).id;
  let got: Answer | undefined;
  const ms = await timed(async () => {
    got = await request('PUT', `${base}/v2/images/${id}/file`, { ...IDENTITY, 'content-type': 'application/octet-stream', 'x-image-meta-store': store }, { file, start: 0, size: expected.size });
  });
  if (got?.status !== 204) throw new Error(`upload to ${store}: ${got?.status} ${got?.body}`);
  const shown = await request('GET', `${base}/v2/images/${id}`, IDENTITY);
  const img = JSON.parse(shown.body) as { status: string; size: number; checksum: string; os_hash_value: string; stores?: string };
  if (img.status !== 'active' || img.size !== expected.size || img.checksum !== expected.md5 || img.os_hash_value !== expected.sha512 || img.stores !== store) {
    throw new Error(`uploaded image is wrong: status ${img.status}, size ${img.size}, checksum ${img.checksum} (want ${expected.md5}), stores ${img.stores}`);
  }
  return { ms, id };
}

async function ocellusDownload(base: string, id: string, expected: Expected, verifyMd5 = false): Promise<number> {
  let got: Answer | undefined;
  const ms = await timed(async () => { got = await request('GET', `${base}/v2/images/${id}/file`, IDENTITY, undefined, { md5: verifyMd5 }); });
  if (got?.status !== 200 || got.bytes !== expected.size) throw new Error(`download: status ${got?.status}, ${got?.bytes} bytes`);
  if (verifyMd5 && got.md5 !== expected.md5) throw new Error(`download: md5 of the bytes ${got.md5}, expected ${expected.md5}`);
  return ms;
}

async function ocellusDelete(base: string, id: string): Promise<void> {
  const del = await request('DELETE', `${base}/v2/images/${id}`, IDENTITY);
  if (del.status !== 204) throw new Error(`delete image ${id}: ${del.status} ${del.body}`);
}

// ---------------------------------------------------------------------------------------------
// Swift: a tempauth session for the stock client and the cleanup

interface SwiftSession { storage: string; token: string }

async function swiftLogin(info: SwiftServerInfo): Promise<SwiftSession> {
  const res = await request('GET', info.authUrl, { 'x-auth-user': info.user, 'x-auth-key': info.key });
  const token = res.headers['x-auth-token'];
  const storage = res.headers['x-storage-url'];
  if (res.status >= 300 || typeof token !== 'string' || typeof storage !== 'string') throw new Error(`Swift auth: ${res.status} ${res.body}`);
  return { storage, token };
}

/** Deletes every object of a container, then the container (S3 buckets and their `+segments` are containers too). */
async function swiftSweep(s: SwiftSession, container: string): Promise<void> {
  const auth = { 'x-auth-token': s.token };
  for (;;) {
    const list = await request('GET', `${s.storage}/${encodeURIComponent(container)}?format=json&limit=1000`, auth);
    if (list.status === 404) return;
    const names = list.status === 200 ? (JSON.parse(list.body) as { name: string }[]).map((o) => o.name) : [];
    if (names.length === 0) break;
    for (const name of names) await request('DELETE', `${s.storage}/${encodeURIComponent(container)}/${name.split('/').map(encodeURIComponent).join('/')}`, auth);
  }
  await request('DELETE', `${s.storage}/${encodeURIComponent(container)}`, auth);
}

/** Runs curl; resolves with its stdout (`-w` output). `stdin`: a file range piped in. */
function curl(args: string[], stdin?: { file: string; start: number; size: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const proc = spawn('curl', ['-sS', ...args], { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    proc.on('error', reject);
    proc.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`curl exited ${code}: ${err.trim()}`))));
    if (stdin) {
      const src = fs.createReadStream(stdin.file, { start: stdin.start, end: stdin.start + stdin.size - 1, highWaterMark: STREAM_CHUNK });
      src.on('error', (e) => { proc.kill('SIGKILL'); reject(e); });
      proc.stdin!.on('error', () => undefined);
      src.pipe(proc.stdin!);
    }
  });
}

/**
 * curl PUTs the segments one after the other (Content-Length, no chunking: curl's own way of
 * sending a known size), then the SLO manifest; checks each segment's ETag.
 */
async function stockSwiftUpload(s: SwiftSession, container: string, name: string, file: string, expected: Expected, segmentSize: number, segmentMd5s: string[]): Promise<number> {
  const objUrl = (n: string) => `${s.storage}/${encodeURIComponent(container)}/${n.split('/').map(encodeURIComponent).join('/')}`;
  const manifest: { path: string; etag: string; size_bytes: number }[] = [];
  const ms = await timed(async () => {
    for (let i = 0, start = 0; start < expected.size; i++, start += segmentSize) {
      const size = Math.min(segmentSize, expected.size - start);
      const seg = `${name}/seg/${String(i + 1).padStart(8, '0')}`;
      const out = await curl(['-X', 'PUT', '-T', '-', '-H', `X-Auth-Token: ${s.token}`, '-H', `Content-Length: ${size}`, '-H', 'Transfer-Encoding:',
        '-H', 'Content-Type: application/octet-stream', '-o', '/dev/null', '-D', '-', '-w', '\nSTATUS %{http_code}', objUrl(seg)], { file, start, size });
      const status = /STATUS (\d+)/.exec(out)?.[1];
      const etag = /^etag:\s*"?([0-9a-f]+)"?\s*$/im.exec(out)?.[1];
      if (status !== '201' || etag !== segmentMd5s[i]) throw new Error(`curl segment PUT ${seg}: status ${status}, etag ${etag} (want ${segmentMd5s[i]})`);
      manifest.push({ path: `/${container}/${seg}`, etag, size_bytes: size });
    }
    const body = JSON.stringify(manifest);
    const out = await curl(['-X', 'PUT', '--data-binary', body, '-H', `X-Auth-Token: ${s.token}`, '-H', 'Content-Type: application/octet-stream',
      '-o', '/dev/null', '-w', '%{http_code}', `${objUrl(name)}?multipart-manifest=put`]);
    if (out !== '201') throw new Error(`curl manifest PUT ${name}: status ${out}`);
  });
  return ms;
}

async function stockSwiftDownload(s: SwiftSession, container: string, name: string, size: number): Promise<number> {
  let out = '';
  const ms = await timed(async () => {
    out = await curl(['-H', `X-Auth-Token: ${s.token}`, '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `${s.storage}/${encodeURIComponent(container)}/${name}`]);
  });
  if (out !== `200 ${size}`) throw new Error(`curl GET ${container}/${name}: ${out}`);
  return ms;
}

async function stockSwiftDelete(s: SwiftSession, container: string, name: string): Promise<void> {
  const res = await request('DELETE', `${s.storage}/${encodeURIComponent(container)}/${name}?multipart-manifest=delete`, { 'x-auth-token': s.token });
  if (res.status !== 200 && res.status !== 204) throw new Error(`delete ${container}/${name}: ${res.status} ${res.body}`);
}

/** How Ocellus cut an image it wrote to Swift: its SLO manifest's segment count and sizes. */
async function ocellusSegments(s: SwiftSession, container: string, id: string): Promise<string> {
  const res = await request('GET', `${s.storage}/${encodeURIComponent(container)}/${id}?multipart-manifest=get&format=raw`, { 'x-auth-token': s.token });
  if (res.status !== 200) return `manifest not readable (${res.status})`;
  const segs = JSON.parse(res.body) as { size_bytes: number }[];
  const sizes = [...new Set(segs.map((x) => x.size_bytes / MiB))].map((x) => `${Number(x.toFixed(2))}`);
  return `${segs.length} segments of ${sizes.join('/')} MiB`;
}

/**
 * The test Swift's server processes, from the pidfiles of scripts/swift/start.sh (a pid counts only
 * while its command line names the state dir, as start.sh checks), for their CPU time.
 */
function swiftServerPids(): number[] {
  const dir = process.env.OCELLUS_SWIFT_DIR ?? '/tmp/ocellus-swift';
  const pids: number[] = [];
  for (const name of ['proxy', 'object', 'container', 'account']) {
    try {
      const pid = Number(fs.readFileSync(path.join(dir, 'run', `${name}.pid`), 'utf8').trim());
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) pids.push(pid);
    } catch {
      // not there: not reported
    }
  }
  return pids;
}

// ---------------------------------------------------------------------------------------------
// S3: the stock client (AWS SDK)

function s3Client(info: SwiftServerInfo): S3Client {
  return new S3Client({
    region: info.region,
    endpoint: info.s3Endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: info.s3AccessKey, secretAccessKey: info.s3SecretKey },
    // Swift's s3api refuses the SDK's default CRC32 trailers (aws-chunked bodies); Ocellus does the same.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: { keepAlive: true } },
  });
}

/**
 * A multipart upload: parts of `partSize` read from the file, `parallel` of them uploading at
 * once, then the completion. Each of the `parallel` workers reads its parts into one buffer it
 * reuses (Ocellus copies each part into one buffer too, and reuses them).
 */
async function stockS3Upload(client: S3Client, bucket: string, key: string, file: string, size: number, partSize: number, parallel: number): Promise<number> {
  return timed(async () => {
    const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    const uploadId = created.UploadId!;
    const fh = await fsp.open(file, 'r');
    const parts: CompletedPart[] = [];
    const count = Math.ceil(size / partSize);
    let next = 0;
    try {
      const worker = async () => {
        const buffer = Buffer.allocUnsafeSlow(partSize);
        while (next < count) {
          const n = next++;
          const len = Math.min(partSize, size - n * partSize);
          const body = buffer.subarray(0, len);
          const { bytesRead } = await fh.read(body, 0, len, n * partSize);
          if (bytesRead !== len) throw new Error(`short read of part ${n + 1}`);
          const res = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: n + 1, Body: body, ContentLength: len }));
          parts.push({ PartNumber: n + 1, ETag: res.ETag });
        }
      };
      await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
    } finally {
      await fh.close();
    }
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
  });
}

async function stockS3Download(client: S3Client, bucket: string, key: string, size: number): Promise<number> {
  let bytes = 0;
  const ms = await timed(async () => {
    const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!(res.Body instanceof Readable)) throw new Error('GetObject: no body stream');
    for await (const c of res.Body) bytes += (c as Buffer).length;
  });
  if (bytes !== size) throw new Error(`GetObject ${bucket}/${key}: ${bytes} bytes, expected ${size}`);
  return ms;
}

// ---------------------------------------------------------------------------------------------

interface Options {
  size: number;
  sizeMiB: number;
  runs: number;
  only: 'swift' | 's3' | undefined;
  tmpdir: string;
  out: string;
  serverNodeOptions: string[];
  swiftSegmentMb: number;
  s3PartMb: number;
  s3Threads: number;
}

function parseOptions(): Options | null {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '512' },
      runs: { type: 'string', default: '3' },
      only: { type: 'string' },
      tmpdir: { type: 'string', default: os.tmpdir() },
      out: { type: 'string', default: path.join(projectRoot, 'dist', 'bench-stores-results.json') },
      'server-node-options': { type: 'string', default: '--initial-old-space-size=96' },
      'swift-segment-mb': { type: 'string', default: '32' },
      's3-part-mb': { type: 'string', default: '16' },
      's3-threads': { type: 'string', default: '10' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('Usage: node dist/bench/stores.js [--size MiB (512)] [--runs N (3)] [--only swift|s3] [--tmpdir DIR] [--out FILE]\n'
      + '                           [--swift-segment-mb N (32)] [--s3-part-mb N (16)] [--s3-threads N (10)] [--server-node-options=OPTS]\n');
    return null;
  }
  const int = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const only = values.only;
  if (only !== undefined && only !== 'swift' && only !== 's3') throw new Error('--only must be swift or s3');
  const sizeMiB = int('size', values.size, 1);
  return {
    size: sizeMiB * MiB,
    sizeMiB,
    runs: int('runs', values.runs, 1),
    only,
    tmpdir: values.tmpdir!,
    out: path.resolve(values.out!),
    serverNodeOptions: values['server-node-options']!.split(/\s+/).filter((x) => x !== ''),
    swiftSegmentMb: int('swift-segment-mb', values['swift-segment-mb'], 1),
    s3PartMb: int('s3-part-mb', values['s3-part-mb'], 5),
    s3Threads: int('s3-threads', values['s3-threads'], 1),
  };
}

function ocellusConfig(info: SwiftServerInfo, o: Options, container: string, bucket: string): string {
  return `[paste_deploy]
flavor = noauth

[DEFAULT]
enabled_backends = objects:swift, buckets:s3

[glance_store]
default_backend = objects

[objects]
swift_store_auth_address = ${info.authUrl}
swift_store_auth_version = 1
swift_store_user = ${info.user}
swift_store_key = ${info.key}
swift_store_container = ${container}
swift_store_create_container_on_put = true
swift_store_large_object_size = ${o.swiftSegmentMb}
swift_store_large_object_chunk_size = ${o.swiftSegmentMb}

[buckets]
s3_store_host = ${info.s3Endpoint}
s3_store_access_key = ${info.s3AccessKey}
s3_store_secret_key = ${info.s3SecretKey}
s3_store_region_name = ${info.region}
s3_store_bucket = ${bucket}
s3_store_bucket_url_format = path
s3_store_create_bucket_on_put = true
s3_store_large_object_size = ${o.s3PartMb}
s3_store_large_object_chunk_size = ${o.s3PartMb}
s3_store_thread_pools = ${o.s3Threads}
`;
}

interface Series { key: string; label: string; ms: number[] }
interface Usage { maxVmRss: number; vmHwm: number; cpuMs: number[]; swiftCpuMs: number[] }

async function main(): Promise<void> {
  const o = parseOptions();
  if (!o) return;
  const info = await swiftServer();
  if (!info) {
    process.stdout.write(`stores benchmark skipped: ${swiftSkipReason()}\n`);
    return;
  }
  const cleanup = new Cleanup();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: cleaning up\n`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await bench(cleanup, info, o);
  } finally {
    await cleanup.run();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function bench(cleanup: Cleanup, info: SwiftServerInfo, o: Options): Promise<void> {
  const { size, runs } = o;
  const dir = await fsp.mkdtemp(path.join(o.tmpdir, 'ocellus-bench-stores-'));
  cleanup.add(`removing ${dir}`, () => fsp.rm(dir, { recursive: true, force: true }));
  const source = path.join(dir, 'source.bin');
  progress(`writing ${o.sizeMiB} MiB of test data to ${source}`);
  const expected = await writeSource(source, size);

  // Names unique to this run; everything in them is removed at the end.
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const container = `ocellus-bench-${tag}`;
  const bucket = `ocellus-bench-s3-${tag}`;
  const stockContainer = `ocellus-bench-stock-${tag}`;
  const stockBucket = `ocellus-bench-stock-s3-${tag}`;
  const swift = await swiftLogin(info);
  cleanup.add('removing the benchmark containers and buckets', async () => {
    const s = await swiftLogin(info);
    for (const c of [container, stockContainer, bucket, `${bucket}+segments`, stockBucket, `${stockBucket}+segments`]) await swiftSweep(s, c);
  });
  const create = await request('PUT', `${swift.storage}/${stockContainer}`, { 'x-auth-token': swift.token });
  if (create.status !== 201 && create.status !== 202) throw new Error(`creating container ${stockContainer}: ${create.status}`);
  const s3 = s3Client(info);
  cleanup.add('closing the S3 client', async () => s3.destroy());
  await s3.send(new CreateBucketCommand({ Bucket: stockBucket }));

  // The segment and part sizes Ocellus will use for this size (the stock clients use the same).
  const segmentSize = Math.min(o.swiftSegmentMb * MiB, info.maxFileSize);
  const partSize = planParts(o.s3PartMb, size).firstPartSize;
  const segmentMd5s: string[] = [];
  {
    const fh = await fsp.open(source, 'r');
    try {
      for (let start = 0; start < size; start += segmentSize) {
        const h = createHash('md5');
        for await (const c of fh.createReadStream({ start, end: Math.min(start + segmentSize, size) - 1, autoClose: false, highWaterMark: STREAM_CHUNK })) h.update(c as Buffer);
        segmentMd5s.push(h.digest('hex'));
      }
    } finally {
      await fh.close();
    }
  }

  const configFile = path.join(dir, 'ocellus.conf');
  await fsp.writeFile(configFile, ocellusConfig(info, o, container, bucket));
  const ocellus = await startOcellus(cleanup, path.join(dir, 'ocellus-data'), o.serverNodeOptions, ['--config', configFile]);
  progress(`Ocellus (pid ${ocellus.pid}) at ${ocellus.base}; Swift at ${swift.storage}, S3 at ${info.s3Endpoint}`);

  const series: Record<string, Series> = {};
  const usage: Record<string, Usage> = {};
  const swiftPids = swiftServerPids();
  if (swiftPids.length === 0) progress('(Swift server processes not found by their pidfiles: their CPU is not reported)');
  /**
   * Runs one measurement and records it, watching the Swift server's processes (CPU) and, for
   * Ocellus' own measurements, the Ocellus process (CPU, RSS).
   */
  const measure = async <T>(key: string, label: string, fn: () => Promise<{ ms: number; value: T }>, ocellusToo = false): Promise<T> => {
    const probes = swiftPids.map((pid) => new ServerProbe(pid));
    const ocProbe = ocellusToo ? new ServerProbe(ocellus.pid) : undefined;
    for (const p of [...probes, ...(ocProbe ? [ocProbe] : [])]) p.start();
    let done: { ms: number; value: T } | undefined;
    try {
      done = await fn();
    } finally {
      const u = (usage[key] ??= { maxVmRss: 0, vmHwm: 0, cpuMs: [], swiftCpuMs: [] });
      u.swiftCpuMs.push(probes.reduce((sum, p) => sum + p.stop().cpuMs, 0));
      if (ocProbe) {
        const r = ocProbe.stop();
        u.maxVmRss = Math.max(u.maxVmRss, r.maxVmRss);
        u.vmHwm = Math.max(u.vmHwm, ocProbe.hwmReset ? r.vmHwm : 0);
        u.cpuMs.push(r.cpuMs);
      }
    }
    (series[key] ??= { key, label, ms: [] }).ms.push(done.ms);
    progress(`  ${pad(label, 46)} ${pad(mibps(size, done.ms).toFixed(1), 9, true)} MiB/s`);
    return done.value;
  };
  const just = async (p: Promise<number>) => ({ ms: await p, value: undefined });

  const stores = o.only ? [o.only] : (['swift', 's3'] as const);
  let segmentsNote = '';
  const leftovers: (() => Promise<void>)[] = [];
  for (let round = 1; round <= runs; round++) {
    progress(`round ${round}/${runs}`);
    for (const del of leftovers.splice(0)) await del();
    const stockFirst = round % 2 === 1;
    for (const store of stores) {
      const name = `stock-${round}`;
      const steps = store === 'swift'
        ? {
          stockUp: () => measure('swiftStockUpload', 'Swift upload, curl (segments + SLO)', () => just(stockSwiftUpload(swift, stockContainer, name, source, expected, segmentSize, segmentMd5s))),
          stockDown: () => measure('swiftStockDownload', 'Swift download, curl GET', () => just(stockSwiftDownload(swift, stockContainer, name, size))),
          stockDel: () => stockSwiftDelete(swift, stockContainer, name),
        }
        : {
          stockUp: () => measure('s3StockUpload', `S3 upload, AWS SDK (multipart, ${o.s3Threads} parallel)`, () => just(stockS3Upload(s3, stockBucket, name, source, size, partSize, o.s3Threads))),
          stockDown: () => measure('s3StockDownload', 'S3 download, AWS SDK GetObject', () => just(stockS3Download(s3, stockBucket, name, size))),
          stockDel: async () => { await s3.send(new DeleteObjectCommand({ Bucket: stockBucket, Key: name })); },
        };
      const Store = store === 'swift' ? 'Swift' : 'S3';
      const storeId = store === 'swift' ? 'objects' : 'buckets';
      let id = '';
      const ocUp = async () => {
        id = await measure(`${store}OcellusUpload`, `${Store} upload, Ocellus (PUT /file)`, async () => {
          const up = await ocellusUpload(ocellus.base, storeId, source, expected);
          return { ms: up.ms, value: up.id };
        }, true);
      };
      const ocDown = () => measure(`${store}OcellusDownload`, `${Store} download, Ocellus (GET /file)`, () => just(ocellusDownload(ocellus.base, id, expected)), true);
      if (stockFirst) {
        await steps.stockUp();
        await ocUp();
        await steps.stockDown();
        await ocDown();
      } else {
        await ocUp();
        await steps.stockUp();
        await ocDown();
        await steps.stockDown();
      }
      if (store === 'swift' && !segmentsNote) segmentsNote = await ocellusSegments(swift, container, id);
      if (round === runs) {
        // Untimed: the bytes Ocellus serves hash to the image's md5.
        await ocellusDownload(ocellus.base, id, expected, true);
        progress(`verified: ${store} download through Ocellus has md5 ${expected.md5}`);
      }
      const imageId = id;
      leftovers.push(() => ocellusDelete(ocellus.base, imageId), steps.stockDel);
    }
  }
  for (const del of leftovers.splice(0)) await del();

  // ---- report
  const best = (key: string) => Math.max(...series[key]!.ms.map((ms) => mibps(size, ms)));
  const lines: string[] = [];
  const runCols = Array.from({ length: runs }, (_, i) => pad(`run ${i + 1}`, 9, true)).join(' ');
  lines.push('', `Ocellus remote-store benchmark: ${o.sizeMiB} MiB, ${runs} run(s), best counts; node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  lines.push(`Swift segments ${segmentSize / MiB} MiB (Ocellus wrote ${segmentsNote || 'n/a'}); S3 parts ${partSize / MiB} MiB, ${o.s3Threads} in flight (s3_store_thread_pools); server node options: ${o.serverNodeOptions.join(' ') || '(none)'}`, '');
  lines.push(`${pad('measurement (MiB/s)', 46)} ${runCols} ${pad('best', 9, true)}`);
  for (const s of Object.values(series)) {
    lines.push(`${pad(s.label, 46)} ${s.ms.map((ms) => pad(mibps(size, ms).toFixed(1), 9, true)).join(' ')} ${pad(best(s.key).toFixed(1), 9, true)}`);
  }
  const perGiB = (ms: number[]) => (ms.length === 0 ? NaN : Math.min(...ms) / 1000 / (size / GiB));
  lines.push('', `${pad('CPU s/GiB (least of the runs), peak RSS', 46)} ${pad('Swift srv', 9, true)} ${pad('Ocellus', 9, true)} ${pad('Ocellus RSS', 12, true)}`);
  for (const s of Object.values(series)) {
    const u = usage[s.key]!;
    const oc = u.cpuMs.length > 0;
    lines.push(`${pad(s.label, 46)} ${pad(swiftPids.length > 0 ? perGiB(u.swiftCpuMs).toFixed(2) : '-', 9, true)} ${pad(oc ? perGiB(u.cpuMs).toFixed(2) : '-', 9, true)} ${pad(oc ? `${(Math.max(u.maxVmRss, u.vmHwm) / MB).toFixed(1)} MB` : '-', 12, true)}`);
  }
  lines.push('(Swift srv: proxy, object, container and account servers together, whoever else uses them meanwhile.)');
  const targets = stores.flatMap((store) => (['Upload', 'Download'] as const).map((op) => {
    const value = best(`${store}Ocellus${op}`) / best(`${store}Stock${op}`);
    const stock = store === 'swift' ? 'curl' : 'AWS SDK';
    return { name: `${store === 'swift' ? 'Swift' : 'S3'} ${op.toLowerCase()}: Ocellus / ${stock}`, value, target: `>= ${TARGET}`, pass: value >= TARGET };
  }));
  lines.push('', `${pad('target', 46)} ${pad('ratio', 9, true)} ${pad('target', 9, true)}  result`);
  for (const t of targets) lines.push(`${pad(t.name, 46)} ${pad(t.value.toFixed(3), 9, true)} ${pad(t.target, 9, true)}  ${t.pass ? 'PASS' : 'MISS'}`);
  process.stdout.write(`${lines.join('\n')}\n`);

  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    sizeMiB: o.sizeMiB,
    runs,
    swiftSegmentMiB: segmentSize / MiB,
    s3PartMiB: partSize / MiB,
    s3Threads: o.s3Threads,
    serverNodeOptions: o.serverNodeOptions,
    throughputMiBps: Object.fromEntries(Object.values(series).map((s) => [s.key, {
      label: s.label, runs: s.ms.map((ms) => Number(mibps(size, ms).toFixed(1))), best: Number(best(s.key).toFixed(1)),
    }])),
    cpuSecondsPerGiB: Object.fromEntries(Object.entries(usage).map(([key, u]) => [key, {
      swiftServer: u.swiftCpuMs.map((ms) => Number((ms / 1000 / (size / GiB)).toFixed(3))),
      ...(u.cpuMs.length > 0 ? { ocellus: u.cpuMs.map((ms) => Number((ms / 1000 / (size / GiB)).toFixed(3))) } : {}),
    }])),
    ocellusPeakRssMB: Object.fromEntries(Object.entries(usage).filter(([, u]) => u.cpuMs.length > 0).map(([key, u]) => [key, Number((Math.max(u.maxVmRss, u.vmHwm) / MB).toFixed(1))])),
    targets: targets.map((t) => ({ ...t, value: Number(t.value.toFixed(3)) })),
    loadAverage: os.loadavg(),
  };
  await fsp.mkdir(path.dirname(o.out), { recursive: true });
  await fsp.writeFile(o.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\nresults written to ${o.out}\n`);
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
}
