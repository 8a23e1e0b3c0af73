/**
 * The private Swift (+ S3 through s3api) test server of scripts/swift/start.sh: started once per
 * test process (or found running), its facts parsed from the script's `NAME=value` lines.
 *
 *   const swift = await swiftServer();
 *   describe('…', { skip: swift ? undefined : swiftSkipReason() }, () => { … });
 *
 * When it cannot start (packages missing and no root to install them, no xattrs, port taken):
 * null, with the reason in swiftSkipReason() — except in CI (CI=true), where that throws.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SwiftServerInfo {
  /** tempauth v1 endpoint: GET with X-Auth-User / X-Auth-Key. */
  authUrl: string;
  /** Storage URL of `user`'s account (…/v1/AUTH_test). */
  storageUrl?: string;
  /** tempauth `account:user`, .admin of its account. */
  user: string;
  key: string;
  /** A user of a second account (AUTH_test2), for multi-account tests. */
  user2: string;
  key2: string;
  /** S3 endpoint (path-style, SigV4) on the same proxy. */
  s3Endpoint: string;
  s3AccessKey: string;
  s3SecretKey: string;
  region: string;
  /** host:port of the memcached holding tempauth's tokens (tests may delete a token there). */
  memcached: string;
  /** Largest single object the server accepts, bytes (lowered so large-object paths run with little data). */
  maxFileSize: number;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const START = path.join(root, 'scripts', 'swift', 'start.sh');
const HOW_TO = 'run scripts/swift/start.sh (as root, or with the python3-swift and memcached packages installed) and see its error';

let started: Promise<SwiftServerInfo | null> | undefined;
let skipReason: string | undefined;

/** Why swiftServer() answered null (undefined when it did not). */
export function swiftSkipReason(): string | undefined {
  return skipReason;
}

/** The test Swift: started by scripts/swift/start.sh on the first call of the process. */
export function swiftServer(): Promise<SwiftServerInfo | null> {
  started ??= start();
  return started;
}

function runStart(): Promise<string> {
  return new Promise((resolve, reject) => {
    // Installing the packages once takes ~30 s and starting ~15 s; allow for a slow machine.
    execFile('bash', [START], { timeout: 240_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${START} failed: ${err.message}\n${stderr.split('\n').slice(-15).join('\n')}`));
      else resolve(stdout);
    });
  });
}

function parse(stdout: string): SwiftServerInfo {
  const facts = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) facts.set(m[1]!, m[2]!);
  }
  const get = (name: string): string => {
    const v = facts.get(`OCELLUS_SWIFT_${name}`);
    if (v === undefined) throw new Error(`${START} printed no OCELLUS_SWIFT_${name}`);
    return v;
  };
  return {
    authUrl: get('AUTH_URL'),
    storageUrl: facts.get('OCELLUS_SWIFT_STORAGE_URL'),
    user: get('USER'),
    key: get('KEY'),
    user2: get('USER2'),
    key2: get('KEY2'),
    s3Endpoint: get('S3_ENDPOINT'),
    s3AccessKey: get('S3_ACCESS_KEY'),
    s3SecretKey: get('S3_SECRET_KEY'),
    region: get('REGION'),
    memcached: get('MEMCACHED'),
    maxFileSize: Number(get('MAX_FILE_SIZE')),
  };
}

async function start(): Promise<SwiftServerInfo | null> {
  try {
    return parse(await runStart());
  } catch (err) {
    const message = `no test Swift server: ${(err as Error).message}\nTo enable the Swift tests, ${HOW_TO}.`;
    if (process.env.CI) throw new Error(`CI is set but there is ${message}`);
    skipReason = message;
    process.stderr.write(`${message}\n`);
    return null;
  }
}
