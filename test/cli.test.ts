import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './support/harness.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ocellus = (...args: string[]) => spawnSync(process.execPath, [path.join(root, 'bin', 'ocellus.js'), ...args], { encoding: 'utf8', timeout: 20_000 });

test('--help lists the serve options', () => {
  const r = ocellus('serve', '--help');
  assert.equal(r.status, 0);
  for (const flag of ['--host', '--port', '--data-dir', '--config']) assert.match(r.stdout, new RegExp(flag));
});

test('an invalid config value stops start-up with a clear message and exit code 2', () => {
  const dir = tempDir('ocellus-cli-');
  const conf = path.join(dir, 'bad.conf');
  fs.writeFileSync(conf, '[DEFAULT]\nbind_port = lots\n');
  const r = ocellus('serve', '--config', conf, '--data-dir', dir);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.conf:2 \[DEFAULT\] bind_port: 'lots' is not an integer/);
});

test('an unknown flag or command is an error', () => {
  assert.equal(ocellus('serve', '--bogus').status, 2);
  const r = ocellus('frobnicate');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
});
