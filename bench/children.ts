/**
 * The benchmark's child processes (Ocellus, plain HTTP peers) and the cleanup that stops them and
 * removes temporary files, also on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const projectRoot = path.resolve(here, '../..');

export class Cleanup {
  private readonly steps: { what: string; fn: () => Promise<void> }[] = [];
  private running: Promise<void> | undefined;

  add(what: string, fn: () => Promise<void>): void {
    this.steps.push({ what, fn });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const { what, fn } of this.steps.reverse()) {
        try {
          await fn();
        } catch (err) {
          process.stderr.write(`cleanup: ${what} failed: ${(err as Error).message}\n`);
        }
      }
    })();
    return this.running;
  }
}

export interface Child {
  proc: ChildProcess;
  /** The last output of the child, for error messages. */
  output(): string;
}

export function startChild(cleanup: Cleanup, name: string, args: string[]): Child {
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: projectRoot });
  let tail = '';
  const keep = (d: Buffer) => { tail = (tail + d.toString()).slice(-4000); };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  proc.stdin!.on('error', () => undefined);
  cleanup.add(`stopping ${name}`, () => stopChild(proc));
  return { proc, output: () => tail };
}

export async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.stdin?.end();
  proc.kill('SIGTERM');
  const force = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(force);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Reads the first stdout line of a peer child: `{"port": N}`. */
export function peerPort(child: Child): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let line = '';
    child.proc.stdout!.on('data', (d: Buffer) => {
      line += d.toString();
      const nl = line.indexOf('\n');
      if (nl >= 0) resolve((JSON.parse(line.slice(0, nl)) as { port: number }).port);
    });
    child.proc.once('exit', (code) => reject(new Error(`peer exited (${code}): ${child.output()}`)));
  });
}

/** Starts `ocellus serve` on a free loopback port with a fresh data dir; `extraArgs` go to `serve` (e.g. `--config FILE`). */
export async function startOcellus(cleanup: Cleanup, dataDir: string, nodeOptions: string[], extraArgs: string[] = []): Promise<{ base: string; pid: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const bin = path.join(projectRoot, 'bin', 'ocellus.js');
  const child = startChild(cleanup, 'Ocellus', [...nodeOptions, bin, 'serve', '--data-dir', dataDir, '--port', String(port), '--log-level', 'warn', ...extraArgs]);
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`Ocellus exited at start: ${child.output()}`);
    try {
      const res = await fetch(`${base}/healthcheck`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`Ocellus did not answer on ${base} within 30 s: ${child.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, pid: child.proc.pid!, stop: () => stopChild(child.proc) };
}

/**
 * Watches a server process during one measurement: polls VmRSS every 50 ms, reads VmHWM (reset at
 * start when the kernel allows) and the CPU time it used (all threads).
 */
export class ServerProbe {
  private timer: NodeJS.Timeout | undefined;
  private maxRss = 0;
  private cpu0 = 0;
  hwmReset = false;

  constructor(private readonly pid: number) {}

  private status(): { rss: number; hwm: number } {
    const text = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s*(\\d+)\\s*kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  }

  /** utime + stime of all threads, in ms (clock ticks are 1/100 s on Linux). */
  private cpuMs(): number {
    const fields = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  }

  private sample(): void {
    try {
      this.maxRss = Math.max(this.maxRss, this.status().rss);
    } catch {
      // the process is gone; the caller will notice
    }
  }

  start(): void {
    try {
      fs.writeFileSync(`/proc/${this.pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
      this.hwmReset = true;
    } catch {
      this.hwmReset = false;
    }
    this.cpu0 = this.cpuMs();
    this.sample();
    this.timer = setInterval(() => this.sample(), 50);
  }

  stop(): { maxVmRss: number; vmHwm: number; cpuMs: number } {
    clearInterval(this.timer);
    this.sample();
    let hwm = 0;
    let cpu = 0;
    try {
      hwm = this.status().hwm;
      cpu = this.cpuMs() - this.cpu0;
    } catch { /* gone */ }
    return { maxVmRss: this.maxRss, vmHwm: hwm, cpuMs: cpu };
  }
}

/** A response as the benchmarks read it: counted (and discarded), small bodies kept as text. */
export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  bytes: number;
  body: string;
  md5?: string;
}

/** Reads a response to its end, counting its bytes; `md5` also hashes them. Bodies up to 64 KiB are kept as text. */
export function readAnswer(res: http.IncomingMessage, opts: { md5?: boolean }, resolve: (a: Answer) => void, reject: (err: Error) => void): void {
  const md5 = opts.md5 ? createHash('md5') : undefined;
  const small: Buffer[] = [];
  let bytes = 0;
  res.on('data', (c: Buffer) => {
    bytes += c.length;
    md5?.update(c);
    if (bytes <= 64 * 1024) small.push(c);
  });
  res.on('end', () => resolve({
    status: res.statusCode ?? 0, headers: res.headers, bytes,
    body: bytes <= 64 * 1024 ? Buffer.concat(small).toString() : '', md5: md5?.digest('hex'),
  }));
  res.on('error', reject);
}
