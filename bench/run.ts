/**
 * Throughput benchmark: what the machine can do with a given amount of bytes (disk, hashes,
 * loopback HTTP), what Ocellus does with the same bytes through its API, and how they compare.
 *
 * The ceilings the targets use: for an upload, the durable disk write (a Node write stream of the
 * same bytes, then fsync, as the file store commits); for a download, a trivial node:http server
 * streaming the same file from the page cache (fs.createReadStream(file).pipe(res), 1 MiB reads
 * as the file store does) to the same client. The same trivial server also streams the file
 * through ImageHasher (md5 and sha512 on worker threads, the last piece held back until both
 * digests match, as a verifying download must): that shows what checking hashes on the read path
 * costs, apart from anything else Ocellus does. Each round also uploads the same bytes as a signed
 * image (img_signature: RSA-PSS over SHA-256, its certificate in a local key manager directory),
 * checked by the hash workers in the same pass, beside the plain upload.
 *
 *   node dist/bench/run.js [--only reads|throughput] [--size MiB] [--runs N] [--reads-seconds S]
 *                          [--out FILE] [--tmpdir DIR] [--server-node-options=OPTS]
 *
 * Two phases: the byte streams (below) and the small reads (bench/reads.ts: request rates of
 * GET image and a list of 20 against a plain node:http ceiling); `--only` runs one of them.
 *
 * The data is a 16 MiB random pattern repeated up to --size MiB: it is written once to a source
 * file in a temp dir (never held whole in memory) and every measurement uses those bytes. Each
 * measurement is repeated --runs times, interleaved round by round, and the best run counts (the
 * machine is noisy). Ocellus and the plain HTTP peer run as child processes. The benchmark
 * reports; it does not assert: the exit code is 0 even when a target is missed.
 */
import { execFileSync } from 'node:child_process';
import { constants, createHash, createSign, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ImageHasher } from '../src/hashing/image-hasher.js';
import { Cleanup, peerPort, projectRoot, readAnswer, ServerProbe, startChild, startOcellus, type Answer } from './children.js';
import { benchReads } from './reads.js';

const MiB = 1 << 20;
const PATTERN_BYTES = 16 * MiB;
/** Chunk size of the file streams on the client side (the store reads in 1 MiB pieces too). */
const STREAM_CHUNK = MiB;
const PEER_FLAG = '--loopback-peer';


// ---------------------------------------------------------------------------------------------
// The data

/** The pattern cut into 1 MiB blocks; the data is blocks[0], blocks[1], … cyclically. */
function blocksOf(pattern: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < pattern.length; at += MiB) out.push(pattern.subarray(at, at + MiB));
  return out;
}

/** The data's pieces in order (views of the immutable pattern: safe to queue in a stream). */
function* pieces(blocks: Buffer[], size: number): Generator<Buffer> {
  let left = size;
  for (let i = 0; left > 0; i++) {
    const b = blocks[i % blocks.length]!;
    const piece = left < b.length ? b.subarray(0, left) : b;
    left -= piece.length;
    yield piece;
  }
}

function drained(w: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      w.off('drain', onDrain);
      w.off('error', onError);
      w.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => settle();
    const onError = (err: Error) => settle(err);
    const onClose = () => settle(new Error('stream closed before drain'));
    w.on('drain', onDrain);
    w.on('error', onError);
    w.on('close', onClose);
  });
}

/** Writes the data into `w` with backpressure (does not end it). */
async function writeData(w: Writable, blocks: Buffer[], size: number): Promise<void> {
  for (const piece of pieces(blocks, size)) {
    if (!w.write(piece)) await drained(w);
  }
}

// ---------------------------------------------------------------------------------------------
// Loopback peer: a plain node:http server (run in a child process) that sends the data from
// memory on GET /?size=N and discards what it receives on PUT, answering the byte count. GET
// /file streams the source file from the page cache (the download ceiling); GET
// /file?md5=…&sha512=… streams it through ImageHasher and ends the response only if both match.

async function loopbackPeer(patternFile: string, sourceFile: string): Promise<void> {
  const blocks = blocksOf(fs.readFileSync(patternFile));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://peer');
    if (req.method === 'GET' && url.pathname === '/file') {
      const md5 = url.searchParams.get('md5');
      const sha512 = url.searchParams.get('sha512');
      const size = fs.statSync(sourceFile).size;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      const file = fs.createReadStream(sourceFile, { highWaterMark: STREAM_CHUNK });
      if (md5 === null || sha512 === null) {
        file.pipe(res);
        file.on('error', (err) => res.destroy(err));
        return;
      }
      sendVerified(file, res, { md5, sha512 }).catch((err: Error) => res.destroy(err));
    } else if (req.method === 'GET') {
      const size = Number(new URL(req.url ?? '/', 'http://peer').searchParams.get('size'));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      writeData(res, blocks, size).then(() => res.end(), (err: Error) => res.destroy(err));
    } else if (req.method === 'PUT') {
      let received = 0;
      req.on('data', (c: Buffer) => { received += c.length; });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(String(received));
      });
    } else {
      res.writeHead(405);
      res.end();
    }
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`);
  });
  // The parent holds our stdin: when it goes away, so do we.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

/**
 * Streams `file` to `res` while ImageHasher hashes it; the last piece goes out only once both
 * digests are known and match, so a mismatch aborts the response before it is complete.
 */
async function sendVerified(file: fs.ReadStream, res: http.ServerResponse, want: { md5: string; sha512: string }): Promise<void> {
  const hasher = await ImageHasher.create('sha512');
  let held: Buffer | undefined;
  try {
    for await (const chunk of file as AsyncIterable<Buffer>) {
      await hasher.update(chunk);
      if (held && !res.write(held)) await drained(res);
      held = chunk;
    }
  } catch (err) {
    hasher.abort();
    throw err;
  }
  const got = await hasher.digest();
  if (got.md5 !== want.md5 || got.multihash !== want.sha512) throw new Error(`hash mismatch: md5 ${got.md5}, sha512 ${got.multihash.slice(0, 16)}…`);
  res.end(held);
}

// ---------------------------------------------------------------------------------------------
// Measurements. Each returns the elapsed milliseconds.

async function timed(fn: () => Promise<void> | void): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Writes the data to a new file with a Node write stream, then fsyncs (as the store commits). */
async function diskWrite(file: string, blocks: Buffer[], size: number): Promise<number> {
  await fsp.rm(file, { force: true });
  const ms = await timed(async () => {
    // `flush`: the stream fsyncs the file before it closes.
    const ws = fs.createWriteStream(file, { flags: 'wx', flush: true });
    const closed = once(ws, 'close');
    try {
      await writeData(ws, blocks, size);
    } catch (err) {
      closed.catch(() => undefined);
      ws.destroy();
      throw err;
    }
    ws.end();
    await closed;
  });
  await fsp.rm(file, { force: true });
  return ms;
}

/** Reads the source file with a Node read stream and discards the bytes. */
async function diskRead(file: string, size: number): Promise<number> {
  let n = 0;
  const ms = await timed(async () => {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: STREAM_CHUNK })) n += (chunk as Buffer).length;
  });
  if (n !== size) throw new Error(`disk read: got ${n} bytes, expected ${size}`);
  return ms;
}

/** Hashes the data on this thread; returns the time and the hex digest (the expected value). */
async function hashAlone(algorithm: string, blocks: Buffer[], size: number): Promise<{ ms: number; hex: string }> {
  let hex = '';
  const ms = await timed(() => {
    const h = createHash(algorithm);
    for (const piece of pieces(blocks, size)) h.update(piece);
    hex = h.digest('hex');
  });
  return { ms, hex };
}

/** The admin token of the server under test (default flavor), sent with every Ocellus request. */
let auth: Record<string, string> = {};

interface Received extends Answer {
  /** performance.now() when the request body was all handed to the socket (PUT). */
  sentAt?: number;
}

/** GET, counting (and discarding) the body; `md5` also hashes it. Small bodies are kept as text. */
function httpGet(url: string, opts: { md5?: boolean } = {}): Promise<Received> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: auth }, (res) => {
      readAnswer(res, opts, resolve, reject);
    });
    req.on('error', reject);
  });
}

/** PUT the source file as the body, streamed with Content-Length. */
function httpPutFile(url: string, file: string, size: number, headers: Record<string, string> = {}): Promise<Received> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'PUT',
      agent: false,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), ...headers },
    }, (res) => {
      const body: Buffer[] = [];
      res.on('data', (c: Buffer) => body.push(c));
      res.on('end', () => {
        const text = Buffer.concat(body).toString();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: text.length, body: text, sentAt });
      });
      res.on('error', reject);
    });
    let sentAt: number | undefined;
    req.on('finish', () => { sentAt = performance.now(); });
    req.on('error', reject);
    const src = fs.createReadStream(file, { highWaterMark: STREAM_CHUNK });
    src.on('error', (err) => req.destroy(err));
    src.pipe(req);
  });
}

/** GET the source file from the trivial file server (`verify`: through ImageHasher, checked against the expected digests). */
async function fileServerDownload(base: string, expected: Expected, verify: boolean): Promise<number> {
  const query = verify ? `?md5=${expected.md5}&sha512=${expected.sha512}` : '';
  let got: Received | undefined;
  const ms = await timed(async () => { got = await httpGet(`${base}/file${query}`); });
  if (got?.status !== 200 || got.bytes !== expected.size) throw new Error(`file server download: status ${got?.status}, ${got?.bytes} bytes`);
  return ms;
}

async function loopbackDownload(base: string, size: number): Promise<number> {
  let got: Received | undefined;
  const ms = await timed(async () => { got = await httpGet(`${base}/?size=${size}`); });
  if (got?.status !== 200 || got.bytes !== size) throw new Error(`loopback download: status ${got?.status}, ${got?.bytes} bytes`);
  return ms;
}

async function loopbackUpload(base: string, file: string, size: number): Promise<number> {
  let got: Received | undefined;
  const ms = await timed(async () => { got = await httpPutFile(`${base}/`, file, size); });
  if (got?.status !== 200 || Number(got.body) !== size) throw new Error(`loopback upload: status ${got?.status}, peer got ${got?.body} bytes`);
  return ms;
}

// ---------------------------------------------------------------------------------------------
// Ocellus through its API

async function apiJson(base: string, method: string, pathname: string, json?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const res = await fetch(base + pathname, {
    method,
    headers: { ...auth, ...(json === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' }) },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await res.text();
  let body: unknown;
  try { body = text ? JSON.parse(text) : undefined; } catch { body = text; }
  return { status: res.status, body };
}

interface Expected { size: number; md5: string; sha512: string }

/**
 * Creates an image and uploads the source file into it; the time covers the PUT only. `tailMs`
 * is the time from the last byte handed to the socket to the answer (mostly the commit's fsync).
 */
async function ocellusUpload(base: string, file: string, expected: Expected, properties: Record<string, string> = {}): Promise<{ ms: number; tailMs: number; id: string }> {
  const created = await apiJson(base, 'POST', '/v2/images', { name: 'b', disk_format: 'raw', container_format: 'bare', ...properties });
  if (created.status !== 201) throw new Error(`create image: ${created.status} ${JSON.stringify(created.body)}`);
  const id = created.body.id as string;
  const t0 = performance.now();
  const got = await httpPutFile(`${base}/v2/images/${id}/file`, file, expected.size, auth);
  const end = performance.now();
  if (got.status !== 204) throw new Error(`upload: ${got.status} ${got.body}`);
  const shown = await apiJson(base, 'GET', `/v2/images/${id}`);
  const img = shown.body as { status: string; size: number; checksum: string; os_hash_algo: string; os_hash_value: string };
  if (img.status !== 'active' || img.size !== expected.size || img.checksum !== expected.md5 || img.os_hash_value !== expected.sha512) {
    throw new Error(`uploaded image is wrong: status ${img.status}, size ${img.size}, checksum ${img.checksum} (want ${expected.md5}), ${img.os_hash_algo} ${img.os_hash_value?.slice(0, 16)}…`);
  }
  return { ms: end - t0, tailMs: end - (got.sentAt ?? end), id };
}

async function ocellusDownload(base: string, id: string, expected: Expected, verifyMd5 = false): Promise<number> {
  let got: Received | undefined;
  const ms = await timed(async () => { got = await httpGet(`${base}/v2/images/${id}/file`, { md5: verifyMd5 }); });
  if (got?.status !== 200 || got.bytes !== expected.size || Number(got.headers['content-length']) !== expected.size) {
    throw new Error(`download: status ${got?.status}, ${got?.bytes} bytes, content-length ${got?.headers['content-length']}`);
  }
  if (verifyMd5 && (got.md5 !== expected.md5 || got.headers['content-md5'] !== expected.md5)) {
    throw new Error(`download: md5 of the bytes ${got.md5}, content-md5 ${got.headers['content-md5']}, expected ${expected.md5}`);
  }
  return ms;
}

/**
 * A signing key and its self-signed certificate (openssl) in `certDir` as `<uuid>.pem`, and the
 * four img_signature properties of `file` (RSA-PSS, SHA-256, the largest salt, as cursive checks).
 */
async function signedProperties(dir: string, certDir: string, file: string): Promise<Record<string, string>> {
  const uuid = randomUUID();
  const key = path.join(dir, 'signing.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', path.join(certDir, `${uuid}.pem`), '-days', '2', '-subj', '/CN=ocellus-bench'], { stdio: 'ignore' });
  const signer = createSign('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: STREAM_CHUNK })) signer.update(chunk as Buffer);
  const signature = signer.sign({ key: await fsp.readFile(key), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN });
  return { img_signature: signature.toString('base64'), img_signature_hash_method: 'SHA-256', img_signature_key_type: 'RSA-PSS', img_signature_certificate_uuid: uuid };
}

// ---------------------------------------------------------------------------------------------
// Child processes

async function startLoopbackPeer(cleanup: Cleanup, patternFile: string, sourceFile: string): Promise<string> {
  const child = startChild(cleanup, 'the loopback HTTP peer', [fileURLToPath(import.meta.url), PEER_FLAG, patternFile, sourceFile]);
  return `http://127.0.0.1:${await peerPort(child)}`;
}

// Report

const mibps = (size: number, ms: number) => size / MiB / (ms / 1000);
const MB = 1e6;

interface Series { label: string; key: string; ms: number[] }

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '1024' },
      runs: { type: 'string', default: '3' },
      out: { type: 'string', default: path.join(projectRoot, 'dist', 'bench-results.json') },
      tmpdir: { type: 'string', default: os.tmpdir() },
      // Node/V8 options for the Ocellus process only (e.g. to compare GC settings); none by default.
      // The server runs with the Node options `npm start` and bin/ocellus.js use.
      'server-node-options': { type: 'string', default: '--initial-old-space-size=96' },
      // 'reads': only the small-reads phase (bench/reads.ts); 'throughput': only the byte streams.
      only: { type: 'string' },
      'reads-seconds': { type: 'string', default: '4' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write('Usage: node dist/bench/run.js [--only reads|throughput] [--size MiB (1024)] [--runs N (3)] [--reads-seconds S (4)] [--out FILE] [--tmpdir DIR] [--server-node-options=OPTS]\n');
    return;
  }
  const sizeMiB = Number(values.size);
  const runs = Number(values.runs);
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1) throw new Error('--size must be a positive integer (MiB)');
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const only = values.only;
  if (only !== undefined && only !== 'reads' && only !== 'throughput') throw new Error('--only must be reads or throughput');
  const readsSeconds = Number(values['reads-seconds']);
  if (!(readsSeconds > 0 && readsSeconds <= 60)) throw new Error('--reads-seconds must be in (0, 60]');
  const size = sizeMiB * MiB;

  const cleanup = new Cleanup();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\n${sig}: cleaning up\n`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const serverNodeOptions = values['server-node-options']!.split(/\s+/).filter((x) => x !== '');
    const tmpdir = values.tmpdir!;
    const out = path.resolve(values.out!);
    const result: Record<string, unknown> = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      runs,
      serverNodeOptions,
    };
    if (only !== 'reads') Object.assign(result, await bench(cleanup, { size, sizeMiB, runs, tmpdir, serverNodeOptions }));
    if (only !== 'throughput') {
      const reads = await benchReads(cleanup, { runs, tmpdir, serverNodeOptions, seconds: readsSeconds, images: 1000 }, progress);
      process.stdout.write(`${reads.lines.join('\n')}\n`);
      result.reads = reads.result;
    }
    result.loadAverage = os.loadavg();
    await fsp.mkdir(path.dirname(out), { recursive: true });
    await fsp.writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`\nresults written to ${out}\n`);
  } finally {
    await cleanup.run();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function progress(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

async function bench(
  cleanup: Cleanup,
  o: { size: number; sizeMiB: number; runs: number; tmpdir: string; serverNodeOptions: string[] },
): Promise<Record<string, unknown>> {
  const { size, runs } = o;
  const dir = await fsp.mkdtemp(path.join(o.tmpdir, 'ocellus-bench-'));
  cleanup.add(`removing ${dir}`, () => fsp.rm(dir, { recursive: true, force: true }));

  // The data: a random pattern, written once to the source file.
  const pattern = randomBytes(PATTERN_BYTES);
  const blocks = blocksOf(pattern);
  const patternFile = path.join(dir, 'pattern.bin');
  const source = path.join(dir, 'source.bin');
  const scratch = path.join(dir, 'write-test.bin');
  await fsp.writeFile(patternFile, pattern);
  progress(`writing ${o.sizeMiB} MiB of test data to ${source}`);
  {
    const ws = fs.createWriteStream(source);
    await writeData(ws, blocks, size);
    ws.end();
    await once(ws, 'close');
  }

  const peer = await startLoopbackPeer(cleanup, patternFile, source);
  // Signed uploads go to the same server: its key manager is a local directory of certificates.
  const certDir = path.join(dir, 'certs');
  await fsp.mkdir(certDir);
  const signedConf = path.join(dir, 'signed.conf');
  await fsp.writeFile(signedConf, `[key_manager]\nbackend = local\ncertificate_dir = ${certDir}\n`);
  progress('signing the test data (RSA-PSS, SHA-256)');
  const signed = await signedProperties(dir, certDir, source);
  const ocellusData = path.join(dir, 'ocellus-data');
  const ocellus = await startOcellus(cleanup, ocellusData, o.serverNodeOptions, ['--config', signedConf]);
  auth = { 'x-auth-token': fs.readFileSync(path.join(ocellusData, 'admin-token'), 'utf8').trim() };
  progress(`loopback peer at ${peer}, Ocellus (pid ${ocellus.pid}) at ${ocellus.base}`);
  // The same server with the disk-format inspection of uploads switched off ([image_format]
  // inspect_uploads = false), so one run shows what inspecting costs. It shares the admin token.
  const uninspectedData = path.join(dir, 'ocellus-data-uninspected');
  const uninspectedConf = path.join(dir, 'uninspected.conf');
  await fsp.mkdir(uninspectedData, { recursive: true, mode: 0o700 });
  await fsp.copyFile(path.join(ocellusData, 'admin-token'), path.join(uninspectedData, 'admin-token'));
  await fsp.writeFile(uninspectedConf, '[image_format]\ninspect_uploads = false\n');
  const uninspected = await startOcellus(cleanup, uninspectedData, o.serverNodeOptions, ['--config', uninspectedConf]);
  progress(`Ocellus without upload inspection (pid ${uninspected.pid}) at ${uninspected.base}`);

  const series: Record<string, Series> = {};
  const record = (key: string, label: string, ms: number) => {
    (series[key] ??= { key, label, ms: [] }).ms.push(ms);
    progress(`  ${pad(label, 44)} ${pad(mibps(size, ms).toFixed(1), 9, true)} MiB/s`);
  };
  const rss = { upload: { maxVmRss: 0, vmHwm: 0, hwmReset: true }, download: { maxVmRss: 0, vmHwm: 0, hwmReset: true } };
  // Diagnostics: server CPU seconds per run, and the upload's tail (last byte sent → 204).
  const serverCpuMs = { upload: [] as number[], download: [] as number[] };
  const uploadTailMs: number[] = [];
  /** Server CPU of the signed uploads: what the signature check costs, whatever else the machine runs. */
  const signedCpuMs: number[] = [];
  const track = (phase: 'upload' | 'download', r: { maxVmRss: number; vmHwm: number; cpuMs: number }, reset: boolean) => {
    rss[phase].maxVmRss = Math.max(rss[phase].maxVmRss, r.maxVmRss);
    rss[phase].vmHwm = Math.max(rss[phase].vmHwm, r.vmHwm);
    rss[phase].hwmReset &&= reset;
    serverCpuMs[phase].push(r.cpuMs);
  };

  let expected: Expected | undefined;
  let lastImage: string | undefined;
  let lastUninspected: string | undefined;
  let lastSigned: string | undefined;
  for (let round = 1; round <= runs; round++) {
    progress(`round ${round}/${runs}`);
    record('diskWrite', 'disk write (stream + fsync)', await diskWrite(scratch, blocks, size));
    record('diskRead', 'disk read (stream, page cache)', await diskRead(source, size));
    const md5 = await hashAlone('md5', blocks, size);
    record('md5', 'md5 alone (1 core)', md5.ms);
    const sha512 = await hashAlone('sha512', blocks, size);
    record('sha512', 'sha512 alone (1 core)', sha512.ms);
    expected ??= { size, md5: md5.hex, sha512: sha512.hex };
    record('loopbackDownload', 'loopback HTTP download (server→client)', await loopbackDownload(peer, size));
    record('loopbackUpload', 'loopback HTTP upload (client→server)', await loopbackUpload(peer, source, size));
    record('fileServerDownload', 'trivial node file server download', await fileServerDownload(peer, expected, false));
    record('verifiedDownload', '… with md5+sha512 check (ImageHasher)', await fileServerDownload(peer, expected, true));

    // The upload without inspection runs right before the inspected one in even rounds, after it in
    // odd ones: neither always follows the same neighbour (a warm page cache, a disk still writing back).
    const uploadUninspected = async () => {
      if (lastUninspected) {
        const del = await apiJson(uninspected.base, 'DELETE', `/v2/images/${lastUninspected}`);
        if (del.status !== 204) throw new Error(`delete image: ${del.status}`);
      }
      const plain = await ocellusUpload(uninspected.base, source, expected!);
      lastUninspected = plain.id;
      record('ocellusUploadUninspected', 'Ocellus upload, inspect_uploads = false', plain.ms);
    };
    if (round % 2 === 0) await uploadUninspected();
    // The signed upload, to the same server beside the plain one: right after it in odd rounds, right before it in even ones.
    const uploadSigned = async () => {
      if (lastSigned) {
        const del = await apiJson(ocellus.base, 'DELETE', `/v2/images/${lastSigned}`);
        if (del.status !== 204) throw new Error(`delete image: ${del.status}`);
      }
      const probe = new ServerProbe(ocellus.pid);
      probe.start();
      let signedUp: { ms: number; id: string };
      try {
        signedUp = await ocellusUpload(ocellus.base, source, expected!, signed);
      } finally {
        signedCpuMs.push(probe.stop().cpuMs);
      }
      lastSigned = signedUp.id;
      record('ocellusUploadSigned', 'Ocellus signed upload (img_signature)', signedUp.ms);
    };
    if (round % 2 === 0) await uploadSigned();

    if (lastImage) {
      const del = await apiJson(ocellus.base, 'DELETE', `/v2/images/${lastImage}`);
      if (del.status !== 204) throw new Error(`delete image: ${del.status}`);
    }
    const upSampler = new ServerProbe(ocellus.pid);
    upSampler.start();
    let up: { ms: number; tailMs: number; id: string };
    try {
      up = await ocellusUpload(ocellus.base, source, expected);
    } finally {
      track('upload', upSampler.stop(), upSampler.hwmReset);
    }
    lastImage = up.id;
    uploadTailMs.push(up.tailMs);
    record('ocellusUpload', 'Ocellus upload (PUT /file)', up.ms);
    if (round % 2 === 1) await uploadSigned();

    const downSampler = new ServerProbe(ocellus.pid);
    downSampler.start();
    try {
      record('ocellusDownload', 'Ocellus download (GET /file)', await ocellusDownload(ocellus.base, up.id, expected));
    } finally {
      track('download', downSampler.stop(), downSampler.hwmReset);
    }
    if (round % 2 === 1) await uploadUninspected();
  }
  // Untimed: the downloaded bytes hash to the image's checksum (and Content-MD5).
  await ocellusDownload(ocellus.base, lastImage!, expected!, true);
  progress(`verified: downloaded bytes have md5 ${expected!.md5} = image checksum`);

  // ---- report
  const best = (key: string) => Math.max(...series[key]!.ms.map((ms) => mibps(size, ms)));
  const lines: string[] = [];
  const runCols = Array.from({ length: runs }, (_, i) => pad(`run ${i + 1}`, 9, true)).join(' ');
  const serverOpts = o.serverNodeOptions.length > 0 ? `; server node options: ${o.serverNodeOptions.join(' ')}` : '';
  lines.push('', `Ocellus benchmark: ${o.sizeMiB} MiB, ${runs} run(s), best counts; node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}${serverOpts}`, '');
  lines.push(`${pad('measurement (MiB/s)', 42)} ${runCols} ${pad('best', 9, true)}`);
  for (const s of Object.values(series)) {
    lines.push(`${pad(s.label, 42)} ${s.ms.map((ms) => pad(mibps(size, ms).toFixed(1), 9, true)).join(' ')} ${pad(best(s.key).toFixed(1), 9, true)}`);
  }

  const hashOrDisk = Math.min(best('md5'), best('sha512'), best('diskWrite'));
  const uploadRatio = best('ocellusUpload') / best('diskWrite');
  const downloadRatio = best('ocellusDownload') / best('fileServerDownload');
  const peak = (p: 'upload' | 'download') => Math.max(rss[p].maxVmRss, rss[p].vmHwm);
  const ratio = (a: string, b: string) => (best(a) / best(b)).toFixed(3);
  const targets = [
    { name: 'upload / durable disk write', value: uploadRatio, shown: uploadRatio.toFixed(3), target: '>= 0.85', pass: uploadRatio >= 0.85 },
    { name: 'download / trivial node file server', value: downloadRatio, shown: downloadRatio.toFixed(3), target: '>= 0.9', pass: downloadRatio >= 0.9 },
    { name: 'server peak RSS during upload', value: peak('upload') / MB, shown: `${(peak('upload') / MB).toFixed(1)} MB`, target: '< 200 MB', pass: peak('upload') < 200 * MB },
    { name: 'server peak RSS during download', value: peak('download') / MB, shown: `${(peak('download') / MB).toFixed(1)} MB`, target: '< 200 MB', pass: peak('download') < 200 * MB },
  ];
  const secs = (ms: number[]) => ms.map((v) => (v / 1000).toFixed(2)).join(', ');
  const perGiB = (ms: number[]) => ms.map((v) => (v / 1000 / (size / (1 << 30))).toFixed(2)).join(', ');
  lines.push('', `min(md5, sha512, disk write) = ${hashOrDisk.toFixed(1)} MiB/s; upload / that = ${(best('ocellusUpload') / hashOrDisk).toFixed(3)}`);
  lines.push(`upload / durable disk write without inspection = ${(best('ocellusUploadUninspected') / best('diskWrite')).toFixed(3)} (with: ${uploadRatio.toFixed(3)}; inspected / uninspected = ${ratio('ocellusUpload', 'ocellusUploadUninspected')})`);
  lines.push(`signed upload / upload = ${ratio('ocellusUploadSigned', 'ocellusUpload')} (RSA-PSS over SHA-256 checked beside md5 and sha512)`);
  lines.push(`download / loopback HTTP download (from memory) = ${ratio('ocellusDownload', 'loopbackDownload')}`);
  lines.push(`verified download / trivial node file server = ${ratio('verifiedDownload', 'fileServerDownload')} (what checking md5+sha512 on the read path would leave; md5 alone runs at ${best('md5').toFixed(0)} MiB/s)`);
  lines.push(`server CPU seconds per GiB (all threads): upload ${perGiB(serverCpuMs.upload)}; signed upload ${perGiB(signedCpuMs)}; download ${perGiB(serverCpuMs.download)}`);
  lines.push(`upload tail, last byte sent → 204 (s): ${secs(uploadTailMs)}`);
  for (const p of ['upload', 'download'] as const) {
    lines.push(`server RSS during ${p}: max polled VmRSS ${(rss[p].maxVmRss / MB).toFixed(1)} MB, VmHWM ${(rss[p].vmHwm / MB).toFixed(1)} MB${rss[p].hwmReset ? '' : ' (VmHWM not reset: since process start)'}`);
  }
  lines.push('', `${pad('target', 42)} ${pad('value', 10, true)} ${pad('target', 10, true)}  result`);
  for (const t of targets) lines.push(`${pad(t.name, 42)} ${pad(t.shown, 10, true)} ${pad(t.target, 10, true)}  ${t.pass ? 'PASS' : 'MISS'}`);
  process.stdout.write(`${lines.join('\n')}\n`);

  return {
    sizeMiB: o.sizeMiB,
    throughputMiBps: Object.fromEntries(Object.values(series).map((s) => [s.key, {
      label: s.label, runs: s.ms.map((ms) => Number(mibps(size, ms).toFixed(1))), best: Number(best(s.key).toFixed(1)),
    }])),
    rssMB: Object.fromEntries((['upload', 'download'] as const).map((p) => [p, {
      maxVmRSS: Number((rss[p].maxVmRss / MB).toFixed(1)), vmHWM: Number((rss[p].vmHwm / MB).toFixed(1)), vmHWMResetAtStart: rss[p].hwmReset,
    }])),
    targets: targets.map(({ name, value, target, pass }) => ({ name, value: Number(value.toFixed(3)), target, pass })),
    diagnostics: {
      serverCpuSeconds: { upload: serverCpuMs.upload.map((v) => v / 1000), download: serverCpuMs.download.map((v) => v / 1000) },
      serverCpuSecondsPerGiB: {
        upload: serverCpuMs.upload.map((v) => Number((v / 1000 / (size / (1 << 30))).toFixed(2))),
        signedUpload: signedCpuMs.map((v) => Number((v / 1000 / (size / (1 << 30))).toFixed(2))),
        download: serverCpuMs.download.map((v) => Number((v / 1000 / (size / (1 << 30))).toFixed(2))),
      },
      ratios: {
        uploadToMinHashOrDisk: Number((best('ocellusUpload') / hashOrDisk).toFixed(3)),
        uploadUninspectedToDiskWrite: Number((best('ocellusUploadUninspected') / best('diskWrite')).toFixed(3)),
        uploadInspectedToUninspected: Number(ratio('ocellusUpload', 'ocellusUploadUninspected')),
        uploadSignedToUpload: Number(ratio('ocellusUploadSigned', 'ocellusUpload')),
        downloadToLoopbackFromMemory: Number(ratio('ocellusDownload', 'loopbackDownload')),
        verifiedDownloadToFileServer: Number(ratio('verifiedDownload', 'fileServerDownload')),
      },
      uploadTailSeconds: uploadTailMs.map((v) => Number((v / 1000).toFixed(3))),
    },
  };
}

if (process.argv[2] === PEER_FLAG) {
  await loopbackPeer(process.argv[3]!, process.argv[4]!);
} else {
  try {
    await main();
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
