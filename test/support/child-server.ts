import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/** bin/ocellus.js, from dist/test/support/. */
export const OCELLUS_BIN = fileURLToPath(new URL('../../../bin/ocellus.js', import.meta.url));

/** A port nobody listens on right now (the kernel's pick, released again). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  srv.close();
  await once(srv, 'close');
  return port;
}

/**
 * Every server this test process started and that still runs: killed when the process exits, so a
 * test that fails before its own clean-up never leaves one behind (nor keeps the test runner,
 * which waits for the pipes of its children, from ending).
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ChildServer {
  url: string;
  port: number;
  child: ChildProcess;
  /**
   * With the default flavor (no `[paste_deploy] flavor`): the admin token the server keeps in
   * `<dataDir>/admin-token`, and the `X-Auth-Token` header carrying it; undefined / {} otherwise.
   */
  adminToken: string | undefined;
  auth: Record<string, string>;
  /** What the process wrote to stderr so far. */
  stderr(): string;
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
  /** SIGTERM (a clean stop), and wait until it is gone; SIGKILL after 5 s. */
  stop(): Promise<void>;
}

/**
 * Runs `node bin/ocellus.js serve --data-dir DIR --port P --log-level warn` and waits until
 * GET /healthcheck answers 200. Without a `--config` naming a flavor this is the default flavor:
 * requests need `auth` (the admin token).
 */
export async function spawnServer(dataDir: string, extraArgs: string[] = [], timeoutMs = 15_000, port?: number): Promise<ChildServer> {
  port ??= await freePort();
  const child = spawn(process.execPath, [OCELLUS_BIN, 'serve', '--data-dir', dataDir, '--port', String(port), '--log-level', 'warn', ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let errText = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    errText += s;
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`ocellus exited (${child.exitCode ?? child.signalCode}) before answering: ${errText}`);
    }
    try {
      const res = await fetch(`${url}/healthcheck`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ocellus did not answer /healthcheck within ${timeoutMs} ms: ${errText}`);
    }
    await sleep(50);
  }
  let adminToken: string | undefined;
  try {
    adminToken = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  } catch {
    adminToken = undefined;
  }
  return {
    url,
    port,
    child,
    adminToken,
    auth: adminToken === undefined ? {} : { 'x-auth-token': adminToken },
    stderr: () => errText,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * A config file for child servers on `dbUrl`: trusted headers (noauth) and a 1 s heartbeat, so
 * leases expire 3 s after their process dies. `defaults`: more [DEFAULT] lines; `sections`: more
 * sections, appended. Returns its path (a new file in `dir`).
 */
export function writeChildConfig(dir: string, dbUrl: string, more: { defaults?: string; sections?: string } = {}): string {
  const file = path.join(dir, `child-${Math.random().toString(36).slice(2, 8)}.conf`);
  const text = `[DEFAULT]\nupload_heartbeat_interval = 1\n${more.defaults ?? ''}\n[database]\nconnection = ${dbUrl}\nauto_sync = true\n\n[paste_deploy]\nflavor = noauth\n\n${more.sections ?? ''}`;
  fs.writeFileSync(file, text);
  return file;
}
