import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { api, createImage, startServer, upload, type TestServer } from './support/harness.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

let server: TestServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.close();
});

test('create, upload, download round trip', async () => {
  const id = await createImage(server.url, {});
  const data = Buffer.from('hello ocellus');
  assert.equal((await upload(server.url, id, data)).status, 204);
  const res = await fetch(`${server.url}/v2/images/${id}/file`);
  assert.equal(res.status, 200);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), data);
  const shown = await api(server.url, 'GET', `/v2/images/${id}`);
  assert.equal(shown.body.status, 'active');
  assert.equal(shown.body.size, data.length);
});
