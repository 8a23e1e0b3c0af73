import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A data server: objects by path, HEAD with Content-Length; `/gated/…` waits for `open()`; `/broken/…` fails mid-body. */
export class Source {
  readonly objects = new Map<string, Buffer>();
  /** Paths that answer with a redirect to another URL. */
  readonly redirects = new Map<string, string>();
  base = '';
  private server = http.createServer((req, res) => void this.route(req, res));
  private sockets = new Set<import('node:net').Socket>();
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;
  gets = 0;

  /** Listens on `host` (a loopback address other than 127.0.0.1 shows what the address filters let through). */
  async start(host = '127.0.0.2'): Promise<this> {
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.listen(0, host);
    await once(this.server, 'listening');
    this.base = `http://${host}:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Serves `data` at a fresh path; returns its URL. */
  put(data: Buffer, prefix = 'obj'): string {
    const p = `/${prefix}/${Math.random().toString(36).slice(2)}`;
    this.objects.set(p, data);
    return this.base + p;
  }

  close(): void {
    this.openGate();
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  /** From now on, `/gated/…` bodies wait until `open()`. */
  shut(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  open(): void {
    this.openGate();
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const to = this.redirects.get(p);
    if (to) return void res.writeHead(302, { location: to }).end();
    const data = this.objects.get(p);
    if (!data) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': data.length });
    if (req.method === 'HEAD') return void res.end();
    this.gets++;
    if (p.startsWith('/broken/')) {
      res.write(data.subarray(0, data.length >> 1));
      setTimeout(() => res.destroy(), 10);
      return;
    }
    if (p.startsWith('/gated/')) {
      res.flushHeaders();
      await this.gate;
    }
    res.end(data);
  }
}

