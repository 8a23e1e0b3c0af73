import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { api } from './harness.js';

/** What an upload request came back with, or the error that ended it without a response. */
export type UploadOutcome =
  | { status: number; headers: http.IncomingHttpHeaders; text: string; error?: undefined }
  | { status?: undefined; error: Error };

/** The answer's body, or the error, for assertion messages. */
export function explain(o: UploadOutcome): string {
  return o.error ? `no answer: ${o.error.message}` : o.text;
}

/** A PUT /file whose body the test writes piece by piece, with node:http. */
export interface StreamingUpload {
  req: http.ClientRequest;
  /** Writes a piece and waits until the socket took it (drain). */
  write(chunk: Buffer): Promise<void>;
  end(chunk?: Buffer): void;
  /** Kills the connection midway, as a crashed client would. */
  destroy(): void;
  /** Settles when the server answered (with the body read) or the connection ended without an answer. */
  outcome: Promise<UploadOutcome>;
}

/**
 * Starts `PUT /v2/images/<id>/file`; the headers go out at once. Without `contentLength` the
 * body is sent chunked.
 */
export function startUpload(base: string, id: string, opts: { headers?: Record<string, string>; contentLength?: number } = {}): StreamingUpload {
  const url = new URL(`${base}/v2/images/${id}/file`);
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', accept: 'application/json', ...opts.headers };
  if (opts.contentLength !== undefined) headers['content-length'] = String(opts.contentLength);
  // A keep-alive agent of its own, as real clients have (`agent: false` would send `Connection: close`).
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', headers, agent });
  let answered = false;
  const outcome = new Promise<UploadOutcome>((resolve) => {
    req.on('response', (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString('utf8') }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString('utf8') }));
    });
    req.on('error', (error) => {
      if (!answered) resolve({ error });
    });
    req.on('close', () => {
      // Give a response that is already being parsed the chance to arrive first.
      setTimeout(() => {
        if (!answered) resolve({ error: new Error('connection closed without a response') });
      }, 50);
    });
  });
  req.on('close', () => agent.destroy());
  req.flushHeaders();
  return {
    req,
    write: (chunk) =>
      new Promise<void>((resolve, reject) => {
        if (req.destroyed) return reject(new Error('request already destroyed'));
        const ok = req.write(chunk, (err) => (err ? reject(err) : undefined));
        if (ok) resolve();
        else {
          const onDrain = () => {
            req.off('close', onClose);
            resolve();
          };
          const onClose = () => {
            req.off('drain', onDrain);
            reject(new Error('connection closed while writing'));
          };
          req.once('drain', onDrain);
          req.once('close', onClose);
        }
      }),
    end: (chunk) => {
      if (chunk) req.end(chunk);
      else req.end();
    },
    destroy: () => req.destroy(),
    outcome,
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 5000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

/** Waits until GET /v2/images/<id> shows `status`; returns the image. */
export async function waitForStatus(base: string, id: string, status: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return waitFor(`image ${id} to be ${status}`, async () => {
    const r = await api(base, 'GET', `/v2/images/${id}`, { headers });
    return r.status === 200 && r.body.status === status ? r.body : undefined;
  }, timeoutMs);
}

/** Names of the plain files directly in `dir` (no directories); [] if it does not exist. */
export function filesIn(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => e.name).sort();
}

export function partialDir(dataDir: string): string {
  return path.join(dataDir, 'images', '.partial');
}

export function digests(data: Buffer, algo = 'sha512'): { md5: string; multihash: string } {
  return { md5: createHash('md5').update(data).digest('hex'), multihash: createHash(algo).update(data).digest('hex') };
}

/**
 * Random image bytes — never an MBR: random data whose bytes 510–511 happen to be 55 AA (1 time in
 * 65,536) is a disk with a partition table to the format inspector, and a malformed one (415).
 */
export function random(size: number): Buffer {
  const data = randomBytes(size);
  if (size >= 512 && data[510] === 0x55 && data[511] === 0xaa) data[511] = 0;
  return data;
}

/** GET /file as raw bytes. */
export async function download(base: string, id: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; data: Buffer }> {
  const res = await fetch(`${base}/v2/images/${id}/file`, { headers: { accept: 'application/json', ...headers } });
  return { status: res.status, headers: res.headers, data: Buffer.from(await res.arrayBuffer()) };
}

/**
 * Sends a whole PUT /file request on a raw keep-alive connection before reading any of the
 * answer, as Python's http.client (glanceclient) does: the body is written in full first, then
 * the response is read. `writeError` is set if the server closed the connection under the body.
 */
export async function putWholeThenRead(
  base: string,
  id: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number | undefined; headers: Record<string, string>; text: string; writeError?: Error }> {
  const url = new URL(base);
  const socket = net.connect(Number(url.port), url.hostname);
  await once(socket, 'connect');
  const received: Buffer[] = [];
  socket.on('data', (c: Buffer) => received.push(c));
  let writeError: Error | undefined;
  socket.on('error', (err) => {
    writeError ??= err;
  });
  const head = [
    `PUT /v2/images/${id}/file HTTP/1.1`,
    `Host: ${url.host}`,
    'Connection: keep-alive',
    'Content-Type: application/octet-stream',
    'Accept: application/json',
    `Content-Length: ${body.length}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  const write = (b: Buffer | string) =>
    new Promise<void>((resolve) => {
      socket.write(b, (err) => {
        if (err) writeError ??= err;
        resolve();
      });
    });
  await write(head);
  for (let off = 0; off < body.length && !writeError; off += 256 * 1024) await write(body.subarray(off, off + 256 * 1024));
  // Now read the answer: headers, then Content-Length bytes of body.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const all = Buffer.concat(received);
    const end = all.indexOf('\r\n\r\n');
    if (end >= 0) {
      const lines = all.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')?.[1]);
      const hdrs: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        hdrs[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const length = Number(hdrs['content-length'] ?? 0);
      if (all.length >= end + 4 + length) {
        socket.destroy();
        return { status, headers: hdrs, text: all.subarray(end + 4, end + 4 + length).toString('utf8'), writeError };
      }
    }
    if (socket.destroyed || Date.now() > deadline) {
      socket.destroy();
      return { status: undefined, headers: {}, text: '', writeError: writeError ?? new Error('no complete answer') };
    }
    await sleep(10);
  }
}
