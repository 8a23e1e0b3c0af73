import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { admin, api, createImage, member, startServer, upload, type TestServer, projectlessAdmin } from './support/harness.js';
import { digests, download, explain, filesIn, partialDir, putWholeThenRead, random, startUpload, waitFor, waitForStatus } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/** The caller of calls that are not about who calls: an admin with no project (noauth's old header-less context). */
const ADMIN = projectlessAdmin();

const MD5_OF_NOTHING = 'd41d8cd98f00b204e9800998ecf8427e';
const SHA512_OF_NOTHING =
  'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

let server: TestServer;
before(async () => {
  // A 1 s heartbeat lets an upload notice within a second that its image was deleted.
  server = await startServer([{ section: 'DEFAULT', name: 'upload_heartbeat_interval', value: '1' }]);
});
after(async () => {
  await server.close();
});

async function show(id: string, headers: Record<string, string> = ADMIN) {
  const r = await api(server.url, 'GET', `/v2/images/${id}`, { headers });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** No image bytes anywhere in the store: neither committed under the id nor partial. */
function assertNoData(dataDir: string, id: string) {
  assert.deepEqual(filesIn(path.join(dataDir, 'images')), [], 'no committed files in <dataDir>/images');
  assert.deepEqual(filesIn(partialDir(dataDir)), [], 'no partial files in <dataDir>/images/.partial');
  assert.equal(fs.existsSync(path.join(dataDir, 'images', id)), false);
}

/** Waits until the upload shows as saving and its partial file exists. */
async function waitUntilSaving(base: string, dataDir: string, id: string) {
  await waitForStatus(base, id, 'saving', ADMIN);
  await waitFor('a partial file', () => (filesIn(partialDir(dataDir)).some((f) => f.startsWith(`${id}.`)) ? true : undefined));
}

describe('upload and download', () => {
  test('upload answers 204 and the image becomes active with size and hashes of the bytes', async () => {
    const id = await createImage(server.url, ADMIN);
    const data = random(100_000);
    const { md5, multihash } = digests(data);
    const r = await upload(server.url, id, data, ADMIN);
    assert.equal(r.status, 204, r.text);
    assert.equal(r.text, '');
    const image = await show(id);
    assert.equal(image.status, 'active');
    assert.equal(image.size, data.length);
    assert.equal(image.checksum, md5);
    assert.equal(image.os_hash_algo, 'sha512');
    assert.equal(image.os_hash_value, multihash);
    assert.equal(image.file, `/v2/images/${id}/file`);

    const d = await download(server.url, id, ADMIN);
    assert.equal(d.status, 200);
    assert.equal(d.headers.get('content-type'), 'application/octet-stream');
    assert.equal(d.headers.get('content-md5'), md5);
    assert.equal(d.headers.get('content-length'), String(data.length));
    assert.equal(d.data.length, data.length);
    assert.ok(d.data.equals(data), 'downloaded bytes equal the uploaded ones');
  });

  test('a 20 MiB chunked upload from a stream hashes correctly', async () => {
    const id = await createImage(server.url, ADMIN);
    const data = random(20 * 1024 * 1024);
    const { md5, multihash } = digests(data);
    const up = startUpload(server.url, id, { headers: ADMIN }); // no Content-Length: Transfer-Encoding chunked
    for (let off = 0; off < data.length; off += 256 * 1024) await up.write(data.subarray(off, off + 256 * 1024));
    up.end();
    const outcome = await up.outcome;
    assert.equal(outcome.status, 204, explain(outcome));
    const image = await show(id);
    assert.equal(image.status, 'active');
    assert.equal(image.size, data.length);
    assert.equal(image.checksum, md5);
    assert.equal(image.os_hash_value, multihash);
    const d = await download(server.url, id, ADMIN);
    assert.equal(d.status, 200);
    assert.equal(d.headers.get('content-length'), String(data.length));
    assert.equal(d.headers.get('content-md5'), md5);
    assert.ok(d.data.equals(data));
  });

  test('a zero-byte upload makes an active image of size 0', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await upload(server.url, id, Buffer.alloc(0), ADMIN);
    assert.equal(r.status, 204, r.text);
    const image = await show(id);
    assert.equal(image.status, 'active');
    assert.equal(image.size, 0);
    assert.equal(image.checksum, MD5_OF_NOTHING);
    assert.equal(image.os_hash_algo, 'sha512');
    assert.equal(image.os_hash_value, SHA512_OF_NOTHING);
    const d = await download(server.url, id, ADMIN);
    assert.equal(d.status, 200);
    assert.equal(d.headers.get('content-length'), '0');
    assert.equal(d.headers.get('content-md5'), MD5_OF_NOTHING);
    assert.equal(d.data.length, 0);
  });

  test('GET file of a queued image is 204 with no body', async () => {
    const id = await createImage(server.url, ADMIN);
    const d = await download(server.url, id, ADMIN);
    assert.equal(d.status, 204);
    assert.equal(d.data.length, 0);
    assert.equal(d.headers.get('content-md5'), null);
  });

  test('GET file of an unknown image is 404', async () => {
    const d = await download(server.url, '6b1a4d2e-0d6f-4c3e-9a57-3c5e5e0f0a11', ADMIN);
    assert.equal(d.status, 404);
  });
});

describe('ranges', () => {
  const data = random(100);
  let id: string;
  let md5: string;
  before(async () => {
    id = await createImage(server.url, ADMIN);
    md5 = digests(data).md5;
    assert.equal((await upload(server.url, id, data, ADMIN)).status, 204);
  });

  const cases: { range: string; start: number; end: number }[] = [
    { range: 'bytes=0-9', start: 0, end: 9 },
    { range: 'bytes=-5', start: 95, end: 99 },
    { range: 'bytes=10-', start: 10, end: 99 },
    { range: 'bytes=90-99', start: 90, end: 99 },
    { range: 'bytes=99-99', start: 99, end: 99 },
    { range: 'bytes=50-1000', start: 50, end: 99 }, // an end past the data is clamped
    { range: 'bytes=-500', start: 0, end: 99 }, // a suffix longer than the data is the whole of it
  ];
  for (const c of cases) {
    test(`Range: ${c.range} → 206 bytes ${c.start}-${c.end}/100`, async () => {
      const d = await download(server.url, id, { ...ADMIN, range: c.range });
      assert.equal(d.status, 206);
      assert.equal(d.headers.get('content-range'), `bytes ${c.start}-${c.end}/100`);
      assert.equal(d.headers.get('content-length'), String(c.end - c.start + 1));
      assert.equal(d.headers.get('content-md5'), md5, 'Content-MD5 carries the whole image checksum on 206 too');
      assert.equal(d.headers.get('content-type'), 'application/octet-stream');
      assert.ok(d.data.equals(data.subarray(c.start, c.end + 1)), 'the right bytes');
    });
  }

  test('a request Content-Range header is taken as a range', async () => {
    const d = await download(server.url, id, { ...ADMIN, 'content-range': 'bytes 3-7/100' });
    assert.equal(d.status, 206);
    assert.equal(d.headers.get('content-range'), 'bytes 3-7/100');
    assert.ok(d.data.equals(data.subarray(3, 8)));
  });

  for (const range of ['bytes=100-', 'bytes=100-200', 'bytes=1000-1001']) {
    test(`Range: ${range} (start >= size) → 416 with Glance's message`, async () => {
      const d = await download(server.url, id, { ...ADMIN, range, accept: 'application/json' });
      assert.equal(d.status, 416);
      assert.match((JSON.parse(d.data.toString()) as { message: string }).message, /^Start position MUST be in the inclusive range \[0, 99\]/);
    });
  }

  test('several ranges → 400', async () => {
    const d = await download(server.url, id, { ...ADMIN, range: 'bytes=0-1,5-6' });
    assert.equal(d.status, 400);
  });

  for (const range of ['garbage', 'bytes=abc', 'bytes=5-2', 'items=0-9']) {
    test(`unparsable Range: ${range} → 416`, async () => {
      const d = await download(server.url, id, { ...ADMIN, range });
      assert.equal(d.status, 416);
    });
  }
});

describe('refused uploads', () => {
  test('upload to an active image → 409 and its data is unchanged', async () => {
    const id = await createImage(server.url, ADMIN);
    const data = random(5000);
    assert.equal((await upload(server.url, id, data, ADMIN)).status, 204);
    const before = await show(id);
    const r = await upload(server.url, id, random(3000), ADMIN);
    assert.equal(r.status, 409, r.text);
    const afterwards = await show(id);
    assert.equal(afterwards.status, 'active');
    assert.equal(afterwards.size, 5000);
    assert.equal(afterwards.checksum, before.checksum);
    assert.equal(afterwards.os_hash_value, before.os_hash_value);
    const d = await download(server.url, id, ADMIN);
    assert.equal(d.status, 200);
    assert.ok(d.data.equals(data));
  });

  test('a refused upload is read to the end: a client that sends the whole body before reading gets the status', async () => {
    const id = await createImage(server.url, ADMIN);
    assert.equal((await upload(server.url, id, random(1000), ADMIN)).status, 204);
    // 8 MiB is far more than socket buffers hold: it is only all written if the server drains it.
    const r = await putWholeThenRead(server.url, id, random(8 * 1024 * 1024), ADMIN);
    assert.equal(r.writeError, undefined, 'the server read the whole body instead of closing the connection under it');
    assert.equal(r.status, 409, r.text);
    const image = await show(id);
    assert.equal(image.status, 'active');
    assert.equal(image.size, 1000);
  });

  test('upload without disk_format and container_format → 400, image stays queued', async () => {
    const created = await api(server.url, 'POST', '/v2/images', { headers: ADMIN, json: { name: 'no formats' } });
    assert.equal(created.status, 201);
    const id = created.body.id as string;
    const r = await upload(server.url, id, random(100), ADMIN);
    assert.equal(r.status, 400, r.text);
    const image = await show(id);
    assert.equal(image.status, 'queued');
    assert.equal(image.size, null);
    // Only the container format missing is 400 too.
    const half = await api(server.url, 'POST', '/v2/images', { headers: ADMIN, json: { disk_format: 'raw' } });
    assert.equal((await upload(server.url, half.body.id, random(10), ADMIN)).status, 400);
  });

  test('upload with Content-Type application/json → 415, image stays queued', async () => {
    const id = await createImage(server.url, ADMIN);
    const r = await api(server.url, 'PUT', `/v2/images/${id}/file`, { headers: ADMIN, body: Buffer.from('{"a":1}'), contentType: 'application/json' });
    assert.equal(r.status, 415, r.text);
    assert.equal((await show(id)).status, 'queued');
  });

  test('upload by another project to a private image → 404, image untouched', async () => {
    const id = await createImage(server.url, member('owner-p'), { visibility: 'private' });
    const r = await upload(server.url, id, random(100), member('other-p'));
    assert.equal(r.status, 404, r.text);
    const image = await show(id, member('owner-p'));
    assert.equal(image.status, 'queued');
    assert.equal(image.size, null);
  });
});

describe('a store that fails the write', () => {
  test('the client is answered (500 with the message), not cut off; the image stays queued; the store works again afterwards', async () => {
    const s = await startServer();
    try {
      const partial = partialDir(s.dataDir);
      fs.rmSync(partial, { recursive: true, force: true });
      fs.writeFileSync(partial, 'not a directory');
      const id = await createImage(s.url, ADMIN);
      const small = await upload(s.url, id, random(64 * 1024), ADMIN);
      assert.equal(small.status, 500, small.text);
      assert.match(small.text, /"message"/);
      // A client that sends the whole body before reading gets the answer too.
      const large = await putWholeThenRead(s.url, id, random(4 * 1024 * 1024), ADMIN);
      assert.equal(large.status, 500, large.text);
      assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: ADMIN })).body.status, 'queued');
      fs.rmSync(partial);
      fs.mkdirSync(partial);
      assert.equal((await upload(s.url, id, random(5000), ADMIN)).status, 204);
    } finally {
      await s.close();
    }
  });
});

describe('image_size_cap', () => {
  let capped: TestServer;
  before(async () => {
    capped = await startServer([{ section: 'DEFAULT', name: 'image_size_cap', value: '1000' }]);
  });
  after(async () => {
    await capped.close();
  });

  test('an upload over the cap → 413, image queued again, nothing stored; then an upload under it works', async () => {
    const id = await createImage(capped.url, ADMIN);
    const r = await upload(capped.url, id, random(2000), ADMIN);
    assert.equal(r.status, 413, r.text);
    const image = (await api(capped.url, 'GET', `/v2/images/${id}`, { headers: ADMIN })).body;
    assert.equal(image.status, 'queued');
    assert.equal(image.size, null);
    assert.equal(image.checksum, null);
    assertNoData(capped.dataDir, id);

    const data = random(500);
    assert.equal((await upload(capped.url, id, data, ADMIN)).status, 204);
    const done = (await api(capped.url, 'GET', `/v2/images/${id}`, { headers: ADMIN })).body;
    assert.equal(done.status, 'active');
    assert.equal(done.size, 500);
    assert.equal(done.checksum, digests(data).md5);
    assert.deepEqual(filesIn(path.join(capped.dataDir, 'images')), [id]);
    assert.deepEqual(filesIn(partialDir(capped.dataDir)), []);
  });

  test('exactly the cap is accepted', async () => {
    const id = await createImage(capped.url, ADMIN);
    assert.equal((await upload(capped.url, id, random(1000), ADMIN)).status, 204);
  });

  test('x-openstack-image-size over the cap → 413 before any byte is stored', async () => {
    const id = await createImage(capped.url, ADMIN);
    const r = await upload(capped.url, id, random(10), { ...ADMIN, 'x-openstack-image-size': '5000' });
    assert.equal(r.status, 413, r.text);
    const image = (await api(capped.url, 'GET', `/v2/images/${id}`, { headers: ADMIN })).body;
    assert.equal(image.status, 'queued');
    assert.equal(fs.existsSync(path.join(capped.dataDir, 'images', id)), false);
  });

  test('x-openstack-image-size over the cap with a large body: the body is drained and the client gets 413', async () => {
    const id = await createImage(capped.url, ADMIN);
    const body = random(4 * 1024 * 1024);
    const r = await putWholeThenRead(capped.url, id, body, { ...ADMIN, 'x-openstack-image-size': String(body.length) });
    assert.equal(r.writeError, undefined, 'the server read the whole body instead of closing the connection under it');
    assert.equal(r.status, 413, r.text);
    assert.equal((await api(capped.url, 'GET', `/v2/images/${id}`, { headers: ADMIN })).body.status, 'queued');
    assert.deepEqual(filesIn(partialDir(capped.dataDir)), []);
  });

  test('a chunked stream that grows over the cap → 413, image queued, nothing stored', async () => {
    const id = await createImage(capped.url, ADMIN);
    const up = startUpload(capped.url, id, { headers: ADMIN });
    await up.write(random(600));
    await waitForStatus(capped.url, id, 'saving', ADMIN);
    await up.write(random(600)).catch(() => undefined);
    up.end();
    const outcome = await up.outcome;
    assert.equal(outcome.status, 413, explain(outcome));
    await waitForStatus(capped.url, id, 'queued', ADMIN);
    assert.deepEqual(filesIn(partialDir(capped.dataDir)), []);
    assert.equal(fs.existsSync(path.join(capped.dataDir, 'images', id)), false);
  });
});

describe('interrupted and concurrent uploads', () => {
  test('a client that disconnects midway leaves the image queued and no partial file; a new upload works', async () => {
    const id = await createImage(server.url, ADMIN);
    const declared = 4 * 1024 * 1024;
    const up = startUpload(server.url, id, { headers: ADMIN, contentLength: declared });
    await up.write(random(declared / 2));
    await waitUntilSaving(server.url, server.dataDir, id);
    up.destroy();
    const outcome = await up.outcome;
    assert.ok(outcome.error, 'the client got no answer on a connection it closed');

    const image = await waitForStatus(server.url, id, 'queued', ADMIN, 5000);
    assert.equal(image.size, null);
    assert.equal(image.checksum, null);
    assert.equal(image.os_hash_value, null);
    await waitFor('the partial file to go', () => (filesIn(partialDir(server.dataDir)).some((f) => f.startsWith(`${id}.`)) ? undefined : true));
    assert.equal(fs.existsSync(path.join(server.dataDir, 'images', id)), false);

    const data = random(300_000);
    assert.equal((await upload(server.url, id, data, ADMIN)).status, 204);
    const done = await show(id);
    assert.equal(done.status, 'active');
    assert.equal(done.size, data.length);
    assert.equal(done.checksum, digests(data).md5);
    assert.equal(done.os_hash_value, digests(data).multihash);
  });

  test('a second upload while the first streams → 409; the first then completes with its bytes', async () => {
    const id = await createImage(server.url, ADMIN);
    const first = Buffer.concat([random(1024 * 1024), random(1024 * 1024)]);
    const up = startUpload(server.url, id, { headers: ADMIN, contentLength: first.length });
    await up.write(first.subarray(0, 1024 * 1024));
    await waitUntilSaving(server.url, server.dataDir, id);

    const second = await upload(server.url, id, random(5000), ADMIN);
    assert.equal(second.status, 409, second.text);
    assert.equal((await show(id)).status, 'saving', 'the first upload still holds the image');

    await up.write(first.subarray(1024 * 1024));
    up.end();
    const outcome = await up.outcome;
    assert.equal(outcome.status, 204, explain(outcome));
    const image = await show(id);
    const { md5, multihash } = digests(first);
    assert.equal(image.status, 'active');
    assert.equal(image.size, first.length);
    assert.equal(image.checksum, md5);
    assert.equal(image.os_hash_value, multihash);
    const d = await download(server.url, id, ADMIN);
    assert.ok(d.data.equals(first));
  });

  test('deleting an image while its upload streams: the upload ends with 410 and nothing remains', async () => {
    const id = await createImage(server.url, ADMIN);
    const up = startUpload(server.url, id, { headers: ADMIN }); // chunked, the client never finishes on its own
    await up.write(random(512 * 1024));
    await waitUntilSaving(server.url, server.dataDir, id);

    const del = await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN });
    assert.equal(del.status, 204, del.text);
    // Keep streaming until the server gives up on the upload (its heartbeat sees the image gone).
    let stop = false;
    const feeding = (async () => {
      while (!stop) {
        await up.write(random(16 * 1024)).catch(() => {
          stop = true;
        });
        await sleep(20);
      }
    })();
    const outcome = await Promise.race([up.outcome, sleep(8000, undefined, { ref: false })]);
    stop = true;
    await feeding;
    up.destroy();
    assert.ok(outcome, 'the upload ended within 8 s of the delete');
    assert.equal(outcome.status, 410, explain(outcome));

    assert.equal((await api(server.url, 'GET', `/v2/images/${id}`, { headers: ADMIN })).status, 404);
    await waitFor('the partial file to go', () => (filesIn(partialDir(server.dataDir)).some((f) => f.startsWith(`${id}.`)) ? undefined : true));
    assert.equal(fs.existsSync(path.join(server.dataDir, 'images', id)), false);
  });

  test('deleting an image while its upload streams, then the client finishes: 410 and nothing remains', async () => {
    const id = await createImage(server.url, ADMIN);
    const data = random(1024 * 1024);
    const up = startUpload(server.url, id, { headers: ADMIN, contentLength: data.length });
    await up.write(data.subarray(0, 512 * 1024));
    await waitUntilSaving(server.url, server.dataDir, id);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 204);
    await up.write(data.subarray(512 * 1024)).catch(() => undefined);
    up.end();
    const outcome = await up.outcome;
    assert.equal(outcome.status, 410, explain(outcome));
    assert.equal((await api(server.url, 'GET', `/v2/images/${id}`, { headers: ADMIN })).status, 404);
    assert.deepEqual(filesIn(partialDir(server.dataDir)).filter((f) => f.startsWith(`${id}.`)), []);
    assert.equal(fs.existsSync(path.join(server.dataDir, 'images', id)), false);
  });
});

describe('deactivated images', () => {
  test('download of a deactivated image: 403 for a member of the owner project, 200 for an admin', async () => {
    const owner = member('deact-p');
    const id = await createImage(server.url, owner);
    const data = random(2048);
    assert.equal((await upload(server.url, id, data, owner)).status, 204);
    assert.equal((await download(server.url, id, owner)).status, 200);

    const deact = await api(server.url, 'POST', `/v2/images/${id}/actions/deactivate`, { headers: admin() });
    assert.equal(deact.status, 204, deact.text);
    assert.equal((await show(id, owner)).status, 'deactivated');

    const asMember = await download(server.url, id, owner);
    assert.equal(asMember.status, 403);
    const asAdmin = await download(server.url, id, admin());
    assert.equal(asAdmin.status, 200);
    assert.equal(asAdmin.headers.get('content-md5'), digests(data).md5);
    assert.ok(asAdmin.data.equals(data));

    assert.equal((await api(server.url, 'POST', `/v2/images/${id}/actions/reactivate`, { headers: admin() })).status, 204);
    const again = await download(server.url, id, owner);
    assert.equal(again.status, 200);
    assert.ok(again.data.equals(data));
  });
});

describe('shutdown', () => {
  test('closing the server while a download is being sent ends promptly once it is done, not after the keep-alive timeout', async () => {
    const srv = await startServer();
    const id = await createImage(srv.url, ADMIN);
    const data = random(8 * 1024 * 1024);
    assert.equal((await upload(srv.url, id, data, ADMIN)).status, 204);

    const agent = new http.Agent({ keepAlive: true });
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get(`${srv.url}/v2/images/${id}/file`, { agent, headers: ADMIN }, resolve).on('error', reject);
      });
      assert.equal(res.statusCode, 200);
      const [first] = (await once(res, 'data')) as [Buffer];
      res.pause();
      // The download is in flight when the close begins; it finishes afterwards on a keep-alive connection.
      const started = Date.now();
      const closed = srv.close().then(() => Date.now() - started);
      await sleep(100);
      const parts: Buffer[] = [first];
      res.on('data', (c: Buffer) => parts.push(c));
      res.resume();
      await once(res, 'end');
      assert.ok(Buffer.concat(parts).equals(data), 'the download in flight completes');
      const took = await Promise.race([closed, sleep(10_000, -1, { ref: false })]);
      assert.notEqual(took, -1, 'the server closed within 10 s');
      assert.ok(took < 10_000);
    } finally {
      agent.destroy();
    }
  });
});
