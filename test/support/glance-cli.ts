import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

/**
 * Running the real Debian `glance` CLI (python3-glanceclient) — and other OpenStack CLIs — against a test server. A missing
 * tool skips the tests with a message saying how to install it — and fails them in CI.
 */

/** Whether `cmd` is an executable on PATH (also used by scripts/run-tests.mjs). */
export function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The reason to skip when one of `tools` is missing (undefined: all there); in CI a failing test instead. */
export function requireTools(tools: string[], packages: string): string | undefined {
  const missing = tools.filter((c) => !onPath(c));
  if (missing.length === 0) return undefined;
  const how = `apt-get install -y ${packages}`;
  if (process.env.CI) {
    test(`${missing.join(' and ')} available for the end-to-end test`, () => {
      assert.fail(`CI is set but ${missing.join(' and ')} not on PATH: run \`${how}\` (scripts/install-test-deps.sh does it)`);
    });
  }
  return `${missing.join(' and ')} not on PATH; \`${how}\` enables this test`;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** An environment of its own: glanceclient caches the image schema in ~/.glanceclient. */
export function glanceEnv(work: string): NodeJS.ProcessEnv {
  const home = path.join(work, 'home');
  fs.mkdirSync(home, { recursive: true });
  return { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' };
}

/**
 * Runs `glance --os-image-api-version 2 --os-image-url <url> --os-auth-token <token> ARGS`. A
 * non-tty stdin is image data to glanceclient's image-create: by default stdin is /dev/null (zero
 * bytes of data); `closedStdin` runs it with no stdin at all (no data).
 */
export function runGlance(url: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; token: string; closedStdin?: boolean }): Promise<Run> {
  const full = ['--os-image-api-version', '2', '--os-image-url', url, '--os-auth-token', opts.token, ...args];
  return opts.closedStdin ? runCommand('sh', ['-c', 'exec "$@" <&-', 'sh', 'glance', ...full], opts) : runCommand('glance', full, opts);
}

/** Runs a command to its end (killed after `timeoutMs`), collecting its output. */
export function runCommand(cmd: string, args: string[], opts: { env: NodeJS.ProcessEnv; cwd: string; timeoutMs?: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Rows of a `| a | b | … |` table, header row dropped. */
export function parseTable(out: string): string[][] {
  const rows = out
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) => line.split('|').slice(1, -1).map((c) => c.trim()));
  return rows.slice(1);
}

/** `| key | value |` tables of *-show/-create/-update; wrapped values (long hashes) are joined back. */
export function parseShow(out: string): Record<string, string> {
  const props: Record<string, string> = {};
  let last: string | undefined;
  for (const cells of parseTable(out)) {
    if (cells.length !== 2) continue;
    const [key, value] = cells as [string, string];
    if (key === '' && last !== undefined) props[last] += value;
    else {
      props[key] = value;
      last = key;
    }
  }
  return props;
}
