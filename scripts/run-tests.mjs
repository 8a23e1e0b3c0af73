#!/usr/bin/env node
// Runs the test suite: each test file on the databases it declares with `runsOn(...)` (see
// test/support/test-database.ts; a file without the call runs on SQLite only): the SQLite run
// first, then PostgreSQL and MariaDB (each test server gets a throw-away database), then tempest
// through a private Keystone. A database server, Keystone or tempest that is not there is
// skipped with a message on a developer's machine, and fails the run in CI (CI=true). Ends with
// one summary line over all runs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testDir = path.join(root, 'dist', 'test');
const only = process.argv.slice(2); // optional: file-name filters
const all = fs
  .readdirSync(testDir)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
  .map((f) => path.join(testDir, f));

// Which databases each file runs on, read from its `runsOn('sqlite', 'postgresql', ...)` call in the
// compiled text, without running it (the call itself also checks OCELLUS_TEST_DB at run time).
const KINDS = ['sqlite', 'postgresql', 'mariadb'];
function declaredDatabases(file) {
  const m = /\brunsOn\(([^)]*)\)/.exec(fs.readFileSync(file, 'utf8'));
  if (!m) return ['sqlite'];
  const kinds = m[1].split(',').map((a) => a.trim()).filter((a) => a !== '').map((a) => /^(['"])([a-z]+)\1$/.exec(a)?.[2] ?? a);
  const wrong = kinds.filter((k) => !KINDS.includes(k));
  if (kinds.length === 0 || wrong.length > 0) {
    process.stderr.write(`${path.basename(file)}: runsOn(${m[1]}) must name one or more of ${KINDS.map((k) => `'${k}'`).join(', ')} as string literals\n`);
    process.exit(2);
  }
  return kinds;
}
const databasesOf = new Map(all.map((f) => [f, declaredDatabases(f)]));
const filesFor = (kind) => all.filter((f) => databasesOf.get(f).includes(kind));

// A hang must fail its file, not stall the run until CI's own limit: each test file (which the
// runner treats as one test) fails after FILE_TIMEOUT_MS, and a file whose tests have finished
// ends even when something it started (a child server a failed test did not stop) still runs.
const FILE_TIMEOUT_MS = 15 * 60 * 1000;

function run(label, files, env) {
  return new Promise((resolve) => {
    process.stdout.write(`\n=== ${label}: ${files.length} test files ===\n`);
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', `--test-timeout=${FILE_TIMEOUT_MS}`, '--test-force-exit', ...files], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    const counts = { pass: 0, fail: 0, skipped: 0 };
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('close', (code) => {
      for (const key of Object.keys(counts)) {
        const m = new RegExp(`ℹ ${key} (\\d+)`).exec(tail);
        if (m) counts[key] = Number(m[1]);
      }
      // A test cancelled (its file timed out, or a hook before it failed) did not pass: it counts as failed.
      const cancelled = /ℹ cancelled (\d+)/.exec(tail);
      if (cancelled) counts.fail += Number(cancelled[1]);
      if (code !== 0 && counts.fail === 0) counts.fail = 1; // crashed without a summary
      resolve(counts);
    });
  });
}

async function reachable(kind) {
  const { unreachable } = await import(path.join(testDir, 'support', 'test-database.js'));
  return unreachable(kind);
}

// A private Keystone on loopback (scripts/keystone/start.sh: Debian's keystone under uwsgi) for the
// tests that need a real one; they find it through OCELLUS_TEST_KEYSTONE_URL. Started when
// keystone-manage is installed (always in CI, where it must work) unless that variable is already
// set. It is left running: a second start.sh then answers at once instead of in ~20 s, and
// scripts/keystone/stop.sh stops it.
const { onPath } = await import(path.join(testDir, 'support', 'glance-cli.js'));

function startKeystone() {
  return new Promise((resolve) => {
    const child = spawn('bash', [path.join(root, 'scripts', 'keystone', 'start.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', (err) => resolve({ error: err.message }));
    child.on('close', (code) => {
      const vars = Object.fromEntries(out.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      if (code !== 0 || !vars.OCELLUS_KEYSTONE_URL) resolve({ error: `scripts/keystone/start.sh exited with ${code}` });
      else
        resolve({
          env: {
            OCELLUS_TEST_KEYSTONE_URL: vars.OCELLUS_KEYSTONE_URL,
            OCELLUS_TEST_KEYSTONE_ADMIN_PASSWORD: vars.OCELLUS_KEYSTONE_ADMIN_PASSWORD,
            OCELLUS_TEST_KEYSTONE_SERVICE_PASSWORD: vars.OCELLUS_KEYSTONE_SERVICE_PASSWORD,
          },
        });
    });
  });
}

/** Runs scripts/tempest/run.sh and reads its last line: `tempest: N passed, N failed, N skipped, N excluded`. */
function runTempest() {
  return new Promise((resolve) => {
    const child = spawn('bash', [path.join(root, 'scripts', 'tempest', 'run.sh')], { env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('error', () => resolve({ pass: 0, fail: 1, skipped: 0 }));
    child.on('close', (code) => {
      const m = /tempest: (\d+) passed, (\d+) failed, (\d+) skipped, (\d+) excluded/.exec(tail);
      if (!m) return resolve({ pass: 0, fail: 1, skipped: 0 });
      const counts = { pass: Number(m[1]), fail: Number(m[2]), skipped: Number(m[3]) + Number(m[4]) };
      if (code !== 0 && counts.fail === 0) counts.fail = 1;
      resolve(counts);
    });
  });
}

const totals = { pass: 0, fail: 0, skipped: 0 };
const add = (c) => Object.keys(totals).forEach((k) => (totals[k] += c[k]));

const keystoneHow = 'install it with `bash scripts/install-test-deps.sh` (Debian package keystone), or run `bash scripts/keystone/start.sh` and export OCELLUS_TEST_KEYSTONE_URL=http://127.0.0.1:5050/v3';
if (process.env.OCELLUS_TEST_KEYSTONE_URL) {
  process.stdout.write(`\n=== Keystone: ${process.env.OCELLUS_TEST_KEYSTONE_URL} (OCELLUS_TEST_KEYSTONE_URL)\n`);
} else if (onPath('keystone-manage') || process.env.CI) {
  process.stdout.write('\n=== Keystone: bash scripts/keystone/start.sh\n');
  const keystone = await startKeystone();
  if (keystone.env) {
    Object.assign(process.env, keystone.env); // every run below inherits it
    process.stdout.write(`=== Keystone: ${keystone.env.OCELLUS_TEST_KEYSTONE_URL}\n`);
  } else if (process.env.CI) {
    process.stdout.write(`=== Keystone: FAILED — ${keystone.error}; the Keystone tests need it\n`);
    totals.fail += 1;
  } else {
    process.stdout.write(`=== Keystone tests skipped — ${keystone.error} (see its messages above and the logs in its state dir, default /tmp/ocellus-keystone), or export OCELLUS_TEST_KEYSTONE_URL for a Keystone of your own\n`);
  }
} else {
  process.stdout.write(`\n=== Keystone tests skipped — keystone-manage is not installed; ${keystoneHow}\n`);
}

// A private Barbican (scripts/barbican/start.sh: Debian's barbican-api under uwsgi, behind the test
// Keystone) for the signed-image tests; they find it through OCELLUS_TEST_BARBICAN_URL. Started like
// Keystone: when barbican-api is installed or in CI (where it must work), unless already set.
function startBarbican() {
  return new Promise((resolve) => {
    const env = {
      ...process.env,
      OCELLUS_KEYSTONE_URL: process.env.OCELLUS_TEST_KEYSTONE_URL,
      OCELLUS_KEYSTONE_ADMIN_PASSWORD: process.env.OCELLUS_TEST_KEYSTONE_ADMIN_PASSWORD,
      OCELLUS_KEYSTONE_SERVICE_PASSWORD: process.env.OCELLUS_TEST_KEYSTONE_SERVICE_PASSWORD,
    };
    const child = spawn('bash', [path.join(root, 'scripts', 'barbican', 'start.sh')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', (err) => resolve({ error: err.message }));
    child.on('close', (code) => {
      const m = /^OCELLUS_BARBICAN_URL=(.+)$/m.exec(out);
      resolve(code === 0 && m ? { url: m[1] } : { error: `scripts/barbican/start.sh exited with ${code}` });
    });
  });
}

if (process.env.OCELLUS_TEST_BARBICAN_URL) {
  process.stdout.write(`\n=== Barbican: ${process.env.OCELLUS_TEST_BARBICAN_URL} (OCELLUS_TEST_BARBICAN_URL)\n`);
} else if (process.env.OCELLUS_TEST_KEYSTONE_URL && (fs.existsSync('/usr/bin/barbican-wsgi-api') || process.env.CI)) {
  process.stdout.write('\n=== Barbican: bash scripts/barbican/start.sh\n');
  const barbican = await startBarbican();
  if (barbican.url) {
    process.env.OCELLUS_TEST_BARBICAN_URL = barbican.url;
    process.stdout.write(`=== Barbican: ${barbican.url}\n`);
  } else if (process.env.CI) {
    process.stdout.write(`=== Barbican: FAILED — ${barbican.error}; the signed-image tests need it\n`);
    totals.fail += 1;
  } else {
    process.stdout.write(`=== Barbican tests skipped — ${barbican.error} (logs in /tmp/ocellus-barbican)\n`);
  }
} else {
  process.stdout.write('\n=== Barbican tests skipped — no Keystone, or barbican-api is not installed (bash scripts/install-test-deps.sh)\n');
}

const sqliteFiles = filesFor('sqlite');
if (sqliteFiles.length > 0) add(await run('SQLite (embedded default)', sqliteFiles, { OCELLUS_TEST_DB: 'sqlite' }));

const servers = [
  ['postgresql', 'PostgreSQL', 'a PostgreSQL server on 127.0.0.1:5432 with trust auth for user postgres, or set OCELLUS_TEST_PG_URL'],
  ['mariadb', 'MariaDB', 'a MariaDB/MySQL server on 127.0.0.1:3306 with user root and no password, or set OCELLUS_TEST_MYSQL_URL'],
];
for (const [kind, label, how] of servers) {
  const files = filesFor(kind);
  if (files.length === 0) continue;
  const why = await reachable(kind);
  if (why) {
    const message = `${label} is not reachable (${why}); its run of the ${files.length} test files that declare it needs ${how}.`;
    if (process.env.CI) {
      process.stdout.write(`\n=== ${label}: FAILED — ${message}\n`);
      totals.fail += 1;
    } else {
      process.stdout.write(`\n=== ${label}: SKIPPED — ${message}\n`);
      totals.skipped += files.length;
    }
    continue;
  }
  add(await run(label, files, { OCELLUS_TEST_DB: kind }));
}

// Tempest, OpenStack's conformance suite: its image API tests and the Glance plugin's RBAC tests
// against an Ocellus behind the Keystone above (scripts/tempest/run.sh). Its counts join the
// totals; OCELLUS_TEST_TEMPEST=0 leaves it out of a local run.
if (only.length === 0 && process.env.OCELLUS_TEST_TEMPEST !== '0') {
  if (!onPath('tempest') && !process.env.CI) {
    process.stdout.write('\n=== Tempest: SKIPPED — tempest is not installed; `bash scripts/install-test-deps.sh` installs it (Debian packages tempest, glance-tempest-plugin)\n');
  } else {
    process.stdout.write('\n=== Tempest: bash scripts/tempest/run.sh ===\n');
    add(await runTempest());
  }
}

process.stdout.write(`\n${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped\n`);
process.exit(totals.fail > 0 ? 1 : 0);
