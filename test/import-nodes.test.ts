import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { loadConfig, type LoadOptions } from '../src/config/options.js';
import { createService, type Service } from '../src/service.js';
import { freePort } from './support/child-server.js';
import { api, createImage, member, tempDir } from './support/harness.js';
import { digests, filesIn, random, waitFor } from './support/streaming.js';
import { createTestDatabase, runsOn, type TestDatabase } from './support/test-database.js';

runsOn('sqlite', 'postgresql');

/**
 * Two nodes on one database and one image store, each with a staging directory of its own and its
 * worker_self_reference_url (tempest's test_remote_import and test_remote_delete, on Glance's
 * devstack layout): what one node staged, the other cannot reach, so an import or a delete sent to
 * the other node is forwarded to the one that holds the staged data.
 */

const P1 = member('p1');

interface Node {
  url: string;
  staging: string;
  service: Service;
}

describe('two nodes, a staging directory each', () => {
  let dataDir: string;
  let database: TestDatabase;
  let a: Node;
  let b: Node;

  async function startNode(name: string): Promise<Node> {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const staging = path.join(dataDir, `staging-${name}`);
    const overrides: NonNullable<LoadOptions['overrides']> = [
      { section: 'DEFAULT', name: 'log_level', value: 'silent' },
      { section: 'paste_deploy', name: 'flavor', value: 'noauth' },
      { section: 'DEFAULT', name: 'node_staging_uri', value: pathToFileURL(staging).href },
      { section: 'DEFAULT', name: 'worker_self_reference_url', value: url },
      // Both services run in this one process: a long heartbeat keeps each from taking the other's
      // leases for those of an earlier life of this pid (see startSecondServer).
      { section: 'DEFAULT', name: 'upload_heartbeat_interval', value: '600' },
      ...(database.url ? [{ section: 'database', name: 'connection', value: database.url }, { section: 'database', name: 'auto_sync', value: 'true' }] : []),
    ];
    const service = await createService(loadConfig({ dataDir, overrides, warn: () => undefined }));
    await service.app.listen({ host: '127.0.0.1', port });
    return { url, staging, service };
  }

  before(async () => {
    dataDir = tempDir('ocellus-nodes-');
    database = await createTestDatabase();
    a = await startNode('a');
    b = await startNode('b');
  });
  after(async () => {
    await b?.service.close();
    await a?.service.close();
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const stagedFiles = (node: Node, id: string) => filesIn(node.staging).filter((f) => f.startsWith(id));

  async function stageOnA(data: Buffer): Promise<string> {
    const id = await createImage(a.url, P1);
    const r = await api(a.url, 'PUT', `/v2/images/${id}/stage`, { headers: P1, body: data, contentType: 'application/octet-stream' });
    assert.equal(r.status, 204, r.text);
    assert.equal(stagedFiles(a, id).length, 1);
    return id;
  }

  test('glance-direct import sent to the other node: forwarded, imported from the staged data', async () => {
    const data = random(200_000);
    const id = await stageOnA(data);
    const r = await api(b.url, 'POST', `/v2/images/${id}/import`, { headers: P1, json: { method: { name: 'glance-direct' } } });
    assert.equal(r.status, 202, r.text);
    const done = await waitFor('the import to end', async () => {
      const img = (await api(b.url, 'GET', `/v2/images/${id}`, { headers: P1 })).body;
      return img.status === 'active' && img.os_glance_import_task === undefined ? img : undefined;
    }, 20_000, 50);
    assert.equal(done.checksum, digests(data).md5);
    assert.deepEqual(stagedFiles(a, id), []);
  });

  test('DELETE of a staged image sent to the other node: forwarded, the staged data removed', async () => {
    const id = await stageOnA(random(100_000));
    const r = await api(b.url, 'DELETE', `/v2/images/${id}`, { headers: P1 });
    assert.equal(r.status, 204, r.text);
    assert.equal((await api(b.url, 'GET', `/v2/images/${id}`, { headers: P1 })).status, 404);
    await waitFor('the staged data removed', () => (stagedFiles(a, id).length === 0 ? true : undefined), 10_000, 50);
  });

  test('the forwarded DELETE keeps the caller: another project still gets 404, and nothing is removed', async () => {
    const id = await stageOnA(random(1000));
    const r = await api(b.url, 'DELETE', `/v2/images/${id}`, { headers: member('p2') });
    assert.equal(r.status, 404, r.text);
    assert.equal(stagedFiles(a, id).length, 1);
    assert.equal((await api(a.url, 'GET', `/v2/images/${id}`, { headers: P1 })).body.status, 'uploading');
  });
});
