#!/usr/bin/env node
// Writes the README's screenshots of the web console, docs/screenshots/console-*.png (a laptop's
// size and, as *-phone.png, a phone's), by running the console's browser test with
// OCELLUS_CONSOLE_SCREENSHOTS set: the pictures show what the test just did in Chromium. Run after
// `npm run build`; needs /usr/bin/chromium (`bash scripts/install-test-deps.sh chromium`). With the
// test Keystone (OCELLUS_TEST_KEYSTONE_URL) it also shows the Keystone sign-in form.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'docs', 'screenshots');
const test = path.join(root, 'dist', 'test', 'console-browser.test.js');
if (!fs.existsSync(test)) {
  process.stderr.write(`${path.relative(root, test)} is missing: run \`npm run build\` first\n`);
  process.exit(2);
}
if (!fs.existsSync(process.env.OCELLUS_TEST_CHROMIUM ?? '/usr/bin/chromium')) {
  process.stderr.write('/usr/bin/chromium is missing: `bash scripts/install-test-deps.sh chromium`\n');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });
const r = spawnSync(process.execPath, ['--test', '--test-force-exit', test], { stdio: 'inherit', env: { ...process.env, OCELLUS_CONSOLE_SCREENSHOTS: out } });
const written = fs.readdirSync(out).filter((f) => f.startsWith('console-') && f.endsWith('.png')).sort();
process.stdout.write(`${written.length} screenshots in ${path.relative(root, out)}: ${written.join(', ')}\n`);
process.exit(r.status ?? 1);
