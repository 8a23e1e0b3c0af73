#!/usr/bin/env node
// Runs the test suite: every test file once on the embedded default (SQLite), then the API test
// files again on PostgreSQL and on MariaDB (each test server gets a throw-away database). A
// database server that cannot be reached is skipped with a message on a developer's machine, and
// fails the run in CI (CI=true). Ends with one summary line over all runs.
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
// The files whose behaviour depends on the metadata database.
const API_FILES = /^(api-|catalogue-|image-data|db-|smoke)/;
const apiFiles = all.filter((f) => API_FILES.test(path.basename(f)));

function run(label, files, env) {
  return new Promise((resolve) => {
    process.stdout.write(`\n=== ${label}: ${files.length} test files ===\n`);
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...files], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
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
      if (code !== 0 && counts.fail === 0) counts.fail = 1; // crashed without a summary
      resolve(counts);
    });
  });
}

async function reachable(kind) {
  const { unreachable } = await import(path.join(testDir, 'support', 'test-database.js'));
  return unreachable(kind);
}

const totals = { pass: 0, fail: 0, skipped: 0 };
const add = (c) => Object.keys(totals).forEach((k) => (totals[k] += c[k]));
add(await run('SQLite (embedded default)', all, { OCELLUS_TEST_DB: 'sqlite' }));

const servers = [
  ['postgresql', 'PostgreSQL', 'a PostgreSQL server on 127.0.0.1:5432 with trust auth for user postgres, or set OCELLUS_TEST_PG_URL'],
  ['mariadb', 'MariaDB', 'a MariaDB/MySQL server on 127.0.0.1:3306 with user root and no password, or set OCELLUS_TEST_MYSQL_URL'],
];
for (const [kind, label, how] of servers) {
  if (apiFiles.length === 0) break;
  const why = await reachable(kind);
  if (why) {
    const message = `${label} is not reachable (${why}); its run of the API tests needs ${how}.`;
    if (process.env.CI) {
      process.stdout.write(`\n=== ${label}: FAILED — ${message}\n`);
      totals.fail += 1;
    } else {
      process.stdout.write(`\n=== ${label}: SKIPPED — ${message}\n`);
      totals.skipped += apiFiles.length;
    }
    continue;
  }
  add(await run(label, apiFiles, { OCELLUS_TEST_DB: kind }));
}

process.stdout.write(`\n${totals.pass} passed, ${totals.fail} failed, ${totals.skipped} skipped\n`);
process.exit(totals.fail > 0 ? 1 : 0);
