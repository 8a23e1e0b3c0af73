/**
 * A node on the embedded defaults (SQLite, filesystem store, no notifications) does not load the
 * drivers it does not use: the PostgreSQL and MariaDB clients, the AWS SDK and amqplib stay on disk
 * (~45 MB of memory between them), loaded only when a configuration names them. Checked in a
 * process of its own: the test harness itself uses pg.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { tempDir } from './support/harness.js';

const SERVICE = new URL('../src/service.js', import.meta.url).href;
const OPTIONS = new URL('../src/config/options.js', import.meta.url).href;

const CHILD = `
import { createRequire } from 'node:module';
const { createService } = await import(${JSON.stringify(SERVICE)});
const { loadConfig } = await import(${JSON.stringify(OPTIONS)});
const config = loadConfig({ dataDir: process.argv[1], overrides: [{ section: 'DEFAULT', name: 'log_level', value: 'silent' }], warn: () => undefined });
const service = await createService(config);
await service.app.listen({ host: '127.0.0.1', port: 0 });
const res = await fetch(\`http://127.0.0.1:\${service.app.server.address().port}/healthcheck\`);
await service.close();
process.stdout.write(JSON.stringify({ status: res.status, loaded: Object.keys(createRequire(import.meta.url).cache) }));
`;

test('the default server loads no PostgreSQL, MariaDB, S3 or AMQP client', () => {
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', CHILD, tempDir()], { encoding: 'utf8' })) as { status: number; loaded: string[] };
  assert.equal(out.status, 200);
  for (const pkg of ['/node_modules/pg/', '/node_modules/mysql2/', '/node_modules/@aws-sdk/client-s3/', '/node_modules/amqplib/']) {
    assert.deepEqual(out.loaded.filter((f) => f.includes(pkg)), [], `${pkg} is loaded`);
  }
  assert.ok(out.loaded.some((f) => f.includes('/node_modules/better-sqlite3/')), 'the check sees CommonJS modules');
});
