import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { OCELLUS_BIN } from './child-server.js';
import { tempDir } from './harness.js';
import { createTestDatabase, testDbKind } from './test-database.js';

/** A database nobody used yet, of the kind OCELLUS_TEST_DB names: a new SQLite file in a temp dir, or a throw-away server database. */
export async function freshDatabase(): Promise<{ url: string; dir: string; drop(): Promise<void> }> {
  const dir = tempDir('ocellus-db-');
  if (testDbKind() === 'sqlite') {
    return {
      url: `sqlite:///${path.join(dir, 'ocellus.db')}`,
      dir,
      async drop() {
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const db = await createTestDatabase();
  return {
    url: db.url!,
    dir,
    async drop() {
      await db.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a config file with `[database] connection = url` into `dir`; returns its path. */
export function writeDbConfig(dir: string, url: string, extra = ''): string {
  const file = path.join(dir, `ocellus-${Math.random().toString(36).slice(2, 8)}.conf`);
  // Servers started with it take identity headers (noauth), as startServer's do.
  fs.writeFileSync(file, `[DEFAULT]\nlog_level = silent\n\n[paste_deploy]\nflavor = noauth\n\n[database]\nconnection = ${url}\n${extra}`);
  return file;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/ocellus.js manage ARGS…` without blocking this process's event loop. */
export function manageCli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [OCELLUS_BIN, 'manage', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
