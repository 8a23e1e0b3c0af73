import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { api, createImage, startServer, upload, type TestServer } from './support/harness.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

let server: TestServer;
let auth: Record<string, string>;
before(async () => {
  // The default flavor, as `ocellus serve` runs with no configuration: calls carry the admin token.
  server = await startServer([{ section: 'paste_deploy', name: 'flavor', value: '' }]);
  auth = { 'x-auth-token': fs.readFileSync(path.join(server.dataDir, 'admin-token'), 'utf8').trim() };
});
after(async () => {
  await server.close();
});

test('create, upload, download round trip', async () => {
  const id = await createImage(server.url, auth);
  const data = Buffer.from('hello ocellus');
  assert.equal((await upload(server.url, id, data, auth)).status, 204);
  const res = await fetch(`${server.url}/v2/images/${id}/file`, { headers: auth });
  assert.equal(res.status, 200);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), data);
  const shown = await api(server.url, 'GET', `/v2/images/${id}`, { headers: auth });
  assert.equal(shown.body.status, 'active');
  assert.equal(shown.body.size, data.length);
});
