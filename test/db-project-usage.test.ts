import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SqlUnitOfWork } from '../src/db/unit-of-work.js';
import { LIMIT_NAMES } from '../src/domain/project-limits.js';
import { api, createImage, member, startServer, upload, type TestServer } from './support/harness.js';
import { runsOn } from './support/test-database.js';

/**
 * What a project's images use, as the unified limits count it (ImageRepository.projectUsage):
 * the same SQL on every database, so this runs on all three.
 */
runsOn('sqlite', 'postgresql', 'mariadb');

describe('project usage for the unified limits', () => {
  let s: TestServer;
  const project = `usage-${randomBytes(4).toString('hex')}`;
  const headers = member(project);

  before(async () => {
    s = await startServer();
  });
  after(async () => {
    await s?.close();
  });

  test('counts, stored bytes, staged bytes and uploads in progress, per project', async () => {
    const repos = new SqlUnitOfWork(s.service.db).repos;
    const usage = () => repos.images.projectUsage(project, LIMIT_NAMES);
    assert.deepEqual(await usage(), { image_count_total: 0, image_count_uploading: 0, image_size_total: 0, image_stage_total: 0 });

    const active = await createImage(s.url, headers);
    assert.equal((await upload(s.url, active, randomBytes(3000), headers)).status, 204);
    await createImage(s.url, headers); // queued
    const staged = await createImage(s.url, headers);
    const put = await api(s.url, 'PUT', `/v2/images/${staged}/stage`, { headers, body: randomBytes(700), contentType: 'application/octet-stream' });
    assert.equal(put.status, 204);
    const gone = await createImage(s.url, headers);
    assert.equal((await api(s.url, 'DELETE', `/v2/images/${gone}`, { headers })).status, 204);
    await createImage(s.url, member('someone-else'));
    assert.deepEqual(await usage(), { image_count_total: 3, image_count_uploading: 1, image_size_total: 3000, image_stage_total: 700 });

    // Being copied to another store: staged (its size) and uploading, as in Glance.
    assert.equal(await repos.images.setProperties(active, { os_glance_importing_to_stores: 'other' }, Date.now()), true);
    assert.deepEqual(await usage(), { image_count_total: 3, image_count_uploading: 2, image_size_total: 3000, image_stage_total: 3700 });

    // Only what was asked is counted.
    assert.deepEqual(await repos.images.projectUsage(project, ['image_count_total']), { image_count_total: 3, image_count_uploading: 0, image_size_total: 0, image_stage_total: 0 });
  });
});
