import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { spawnServer, type ChildServer } from './support/child-server.js';
import { admin, api, createImage, tempDir, upload } from './support/harness.js';
import { random, startUpload, waitFor, waitForStatus } from './support/streaming.js';
import { swiftServer, swiftSkipReason, type SwiftServerInfo } from './support/swift-server.js';

/**
 * A server killed (SIGKILL) in the middle of an upload to Swift or S3: the upload's lease says
 * which store it was writing to, so the server that takes it over removes the segments or the
 * multipart upload from that store — not from the default one.
 */

const swift = await swiftServer();
const ADMIN = admin();
const MiB = 1024 * 1024;

async function swiftList(info: SwiftServerInfo, container: string): Promise<string[]> {
  const auth = await fetch(info.authUrl, { headers: { 'x-auth-user': info.user, 'x-auth-key': info.key } });
  await auth.arrayBuffer();
  const r = await fetch(`${auth.headers.get('x-storage-url')}/${container}?format=json`, { headers: { 'x-auth-token': auth.headers.get('x-auth-token')! } });
  if (r.status === 404) return [];
  return ((await r.json()) as { name: string }[]).map((o) => o.name);
}

describe('a server killed in the middle of an upload to a remote store', { skip: swift ? undefined : swiftSkipReason() }, () => {
  const dir = tempDir('ocellus-crash-stores-');
  const suffix = `${process.pid}-${Date.now().toString(36)}`;
  const container = `ocellus-crash-${suffix}`;
  const bucket = `ocellus-crash-s3-${suffix}`;
  const servers: ChildServer[] = [];
  after(async () => {
    for (const s of servers) await s.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function config(): string {
    const s = swift!;
    const file = path.join(dir, 'ocellus.conf');
    fs.writeFileSync(
      file,
      [
        '[DEFAULT]',
        'upload_heartbeat_interval = 1',
        'enabled_backends = local:file, objects:swift, buckets:s3',
        '[glance_store]',
        'default_backend = local',
        '[paste_deploy]',
        'flavor = noauth',
        '[objects]',
        `swift_store_auth_address = ${s.authUrl}`,
        'swift_store_auth_version = 1',
        `swift_store_user = ${s.user}`,
        `swift_store_key = ${s.key}`,
        `swift_store_container = ${container}`,
        'swift_store_create_container_on_put = true',
        'swift_store_large_object_size = 1',
        'swift_store_large_object_chunk_size = 1',
        '[buckets]',
        `s3_store_host = ${s.s3Endpoint}`,
        `s3_store_access_key = ${s.s3AccessKey}`,
        `s3_store_secret_key = ${s.s3SecretKey}`,
        `s3_store_region_name = ${s.region}`,
        `s3_store_bucket = ${bucket}`,
        's3_store_create_bucket_on_put = true',
        's3_store_large_object_size = 5',
        's3_store_large_object_chunk_size = 5',
        '',
      ].join('\n'),
    );
    return file;
  }

  for (const [store, pieces] of [
    ['objects', () => swiftList(swift!, container)],
    ['buckets', async () => [...(await swiftList(swift!, bucket)), ...(await swiftList(swift!, `${bucket}+segments`))]],
  ] as const) {
    test(`${store}: the next server removes what the dead upload wrote there and queues the image again`, async () => {
      const conf = config();
      const first = await spawnServer(dir, ['--config', conf]);
      servers.push(first);
      const id = await createImage(first.url, ADMIN);
      const up = startUpload(first.url, id, { contentLength: 40 * MiB, headers: { ...ADMIN, 'x-image-meta-store': store } });
      await waitForStatus(first.url, id, 'saving', ADMIN);
      // Enough bytes that segments (Swift) or parts (S3) are stored before the crash.
      for (let i = 0; i < 14; i++) await up.write(random(MiB));
      await waitFor('pieces of the upload in the store', async () => ((await pieces()).length > 0 ? true : undefined), 15_000, 100);
      await first.kill();
      assert.ok((await up.outcome).error, 'the upload got no answer from the killed server');
      assert.ok((await pieces()).length > 0, 'the crash left pieces in the store');

      const second = await spawnServer(dir, ['--config', conf]);
      servers.push(second);
      await waitForStatus(second.url, id, 'queued', ADMIN, 15_000);
      await waitFor('the store to be clean', async () => ((await pieces()).length === 0 ? true : undefined), 10_000, 100);

      const data = random(7 * MiB + 5);
      assert.equal((await upload(second.url, id, data, { ...ADMIN, 'x-image-meta-store': store })).status, 204);
      const res = await fetch(`${second.url}/v2/images/${id}/file`, { headers: ADMIN });
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));
      assert.equal((await api(second.url, 'DELETE', `/v2/images/${id}`, { headers: ADMIN })).status, 204);
      assert.deepEqual(await pieces(), []);
      await second.stop();
    });
  }
});
