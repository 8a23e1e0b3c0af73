import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { api, createImage, member, patchImage, startSecondServer, startServer, upload, type TestServer } from './support/harness.js';
import { BrokerProxy, Consumer, deleteOnBroker, eventOf, rabbitUnavailable, RABBIT_HOST, RABBIT_PORT, type Received } from './support/rabbitmq.js';
import { SqlUnitOfWork } from '../src/db/unit-of-work.js';
import { freshDatabase } from './support/db-tools.js';
import { spawnServer, writeChildConfig, type ChildServer } from './support/child-server.js';

/**
 * Notifications against the real RabbitMQ: what a consumer bound to the exchange receives for an
 * image's life (order, payloads, oslo.messaging's envelope and message properties), the v1 driver
 * and disabled_notifications, a broker outage that the API never feels (events arrive once the
 * broker is back), and a server killed right after a commit (its event arrives after the restart).
 * Skipped when RabbitMQ is not reachable, unless CI=true.
 */

const unavailable = await rabbitUnavailable();

/** A fresh exchange and topic per server, so tests (and other users of the broker) never see each other's events. */
function names() {
  const tag = randomBytes(4).toString('hex');
  return { exchange: `ocellus_test_${tag}`, topic: `ocellus_test_${tag}` };
}

function notifyOverrides(n: { exchange: string; topic: string }, transportUrl: string, more: { section: string; name: string; value: string }[] = []) {
  return [
    { section: 'oslo_messaging_notifications', name: 'driver', value: 'messagingv2' },
    { section: 'oslo_messaging_notifications', name: 'transport_url', value: transportUrl },
    { section: 'oslo_messaging_notifications', name: 'topics', value: n.topic },
    { section: 'DEFAULT', name: 'control_exchange', value: n.exchange },
    ...more,
  ];
}

const types = (rs: Received[]) => rs.map((r) => eventOf(r).event_type);
const brokerUrl = `rabbit://guest:guest@${RABBIT_HOST}:${RABBIT_PORT}/`;

describe('notifications to RabbitMQ (messagingv2)', { skip: unavailable }, () => {
  const n = names();
  let server: TestServer;
  let consumer: Consumer;
  before(async () => {
    consumer = await Consumer.bind(n.exchange, `${n.topic}.*`);
    server = await startServer(notifyOverrides(n, brokerUrl));
  });
  after(async () => {
    await server?.close();
    await consumer?.close();
    await deleteOnBroker(n.exchange, [`${n.topic}.info`, `${n.topic}.error`]).catch(() => undefined);
  });

  test('create → upload → update → download → delete: the expected events, in order, with Glance payloads and the oslo envelope', async () => {
    const owner = member('p1');
    const data = Buffer.from('notified bytes');
    const id = await createImage(server.url, owner, { name: 'first' });
    assert.equal((await upload(server.url, id, data, owner)).status, 204);
    assert.equal((await patchImage(server.url, id, owner, [{ op: 'replace', path: '/name', value: 'renamed' }])).status, 200);
    const download = await fetch(`${server.url}/v2/images/${id}/file`, { headers: owner });
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), data);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: owner })).status, 204);

    const got = await consumer.waitFor(9);
    assert.deepEqual(types(got), ['image.create', 'image.update', 'image.prepare', 'image.upload', 'image.activate', 'image.update', 'image.update', 'image.send', 'image.delete']);
    for (const r of got) {
      assert.equal(r.routingKey, `${n.topic}.info`);
      assert.equal(r.properties.contentType, 'application/json');
      assert.equal(r.properties.contentEncoding, 'utf-8');
      assert.equal(r.properties.deliveryMode, 2);
      assert.deepEqual(Object.keys(r.body).sort(), ['oslo.message', 'oslo.version']);
      assert.equal(r.body['oslo.version'], '2.0');
      assert.equal(typeof r.body['oslo.message'], 'string');
      const m = eventOf(r);
      assert.deepEqual(Object.keys(m).sort(), ['_unique_id', 'event_type', 'message_id', 'payload', 'priority', 'publisher_id', 'timestamp']);
      assert.equal(m.priority, 'INFO');
      assert.equal(m.publisher_id, `image.${os.hostname()}`);
      assert.match(m.message_id as string, /^[0-9a-f-]{36}$/);
      assert.match(m._unique_id as string, /^[0-9a-f]{32}$/);
      assert.match(m.timestamp as string, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$/);
    }
    assert.equal(new Set(got.map((r) => eventOf(r).message_id)).size, 9, 'every event has its own message_id');

    const [create, , prepare, uploaded, activate, afterUpload, patched, send, deleted] = got.map((r) => eventOf(r).payload);
    assert.deepEqual(Object.keys(create!).sort(), [
      'checksum', 'container_format', 'created_at', 'deleted', 'deleted_at', 'disk_format', 'id', 'is_public', 'min_disk', 'min_ram',
      'name', 'owner', 'properties', 'protected', 'size', 'status', 'tags', 'updated_at', 'virtual_size', 'visibility',
    ]);
    assert.deepEqual(
      { id: create!.id, name: create!.name, status: create!.status, owner: create!.owner, size: create!.size, is_public: create!.is_public, visibility: create!.visibility, deleted: create!.deleted },
      { id, name: 'first', status: 'queued', owner: 'p1', size: null, is_public: false, visibility: 'shared', deleted: false },
    );
    assert.match(create!.created_at as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(prepare!.status, 'saving');
    assert.deepEqual([prepare!.os_glance_importing_to_stores, prepare!.os_glance_failed_import], [[], []]);
    const md5 = createHash('md5').update(data).digest('hex');
    assert.deepEqual({ status: uploaded!.status, size: uploaded!.size, checksum: uploaded!.checksum }, { status: 'active', size: data.length, checksum: md5 });
    assert.equal(activate!.status, 'active');
    assert.equal(afterUpload!.status, 'active');
    assert.equal(patched!.name, 'renamed');
    assert.deepEqual(send, { bytes_sent: data.length, image_id: id, owner_id: 'p1', receiver_tenant_id: 'p1', receiver_user_id: 'user-p1' });
    assert.deepEqual({ id: deleted!.id, status: deleted!.status, deleted: deleted!.deleted }, { id, status: 'deleted', deleted: true });
    assert.match(deleted!.deleted_at as string, /Z$/);
    // Locations are never sent (they may hold credentials).
    assert.ok(got.every((r) => !(r.body['oslo.message'] as string).includes('file://')));

    // Delivered and forgotten: nothing is left in the outbox; the routing key's own queue keeps them for consumers still to come.
    assert.deepEqual(await server.service.db.selectFrom('outbox').selectAll().execute(), []);
    const kept = await consumer.channel.checkQueue(`${n.topic}.info`);
    assert.equal(kept.messageCount, 9);
  });

  test('memberships: image.member.create, .update and .delete with their payloads', async () => {
    const id = await createImage(server.url, member('p1'));
    await consumer.waitFor(1);
    assert.equal((await api(server.url, 'POST', `/v2/images/${id}/members`, { headers: member('p1'), json: { member: 'p2' } })).status, 200);
    assert.equal((await api(server.url, 'PUT', `/v2/images/${id}/members/p2`, { headers: member('p2'), json: { status: 'accepted' } })).status, 200);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}/members/p2`, { headers: member('p1') })).status, 204);
    const got = await consumer.waitFor(3);
    assert.deepEqual(types(got), ['image.member.create', 'image.member.update', 'image.member.delete']);
    const [created, updated, deleted] = got.map((r) => eventOf(r).payload);
    assert.deepEqual({ ...created, created_at: undefined, updated_at: undefined }, { image_id: id, member_id: 'p2', status: 'pending', created_at: undefined, updated_at: undefined, deleted: false, deleted_at: null });
    assert.equal(updated!.status, 'accepted');
    assert.deepEqual([deleted!.member_id, deleted!.deleted], ['p2', true]);
    assert.match(deleted!.deleted_at as string, /Z$/);
  });

  test('glance-direct import: the staging, the task and the image in Glance\'s order, task payloads without input', async () => {
    const owner = member('p1');
    const id = await createImage(server.url, owner, { name: 'imported' });
    const staged = await api(server.url, 'PUT', `/v2/images/${id}/stage`, { headers: owner, body: Buffer.from('staged bytes'), contentType: 'application/octet-stream' });
    assert.equal(staged.status, 204, staged.text);
    assert.equal((await api(server.url, 'POST', `/v2/images/${id}/import`, { headers: owner, json: { method: { name: 'glance-direct' } } })).status, 202);
    const got = await consumer.waitFor(12);
    assert.deepEqual(types(got), [
      'image.create', 'image.update', 'image.update',
      'task.create', 'image.update',
      'task.run', 'task.processing',
      'image.prepare', 'image.upload', 'image.activate', 'image.update',
      'task.success',
    ]);
    const payloads = got.map((r) => eventOf(r).payload);
    assert.deepEqual(payloads.slice(1, 3).map((p) => p.status), ['uploading', 'uploading']);
    assert.equal(payloads[4]!.status, 'importing');
    assert.deepEqual([payloads[7]!.status, payloads[7]!.os_glance_importing_to_stores], ['importing', ['file']]);
    assert.deepEqual(payloads[8]!.os_glance_importing_to_stores, []);
    assert.equal(payloads[9]!.status, 'active');
    const task = payloads[11]!;
    assert.deepEqual(Object.keys(task).sort(), ['created_at', 'deleted', 'deleted_at', 'expires_at', 'id', 'message', 'owner', 'result', 'status', 'type', 'updated_at']);
    assert.deepEqual({ type: task.type, status: task.status, owner: task.owner, result: task.result, message: task.message }, { type: 'api_image_import', status: 'success', owner: 'p1', result: null, message: null });
    assert.deepEqual(payloads.slice(3).filter((p) => p.type).map((p) => p.status), ['pending', 'pending', 'processing', 'success']);
  });

  test('a failed upload is reported as image.upload at ERROR priority, on the .error routing key', async () => {
    // Declared qcow2, but the bytes are no qcow2: the format check refuses them once they have all arrived.
    const id = await createImage(server.url, member('p1'), { disk_format: 'qcow2' });
    await consumer.waitFor(1);
    assert.equal((await upload(server.url, id, Buffer.alloc(4096, 1), member('p1'))).status, 415);
    const got = await consumer.waitFor(3);
    assert.deepEqual(types(got), ['image.update', 'image.prepare', 'image.upload']);
    const failure = got[2]!;
    assert.equal(failure.routingKey, `${n.topic}.error`);
    assert.equal(eventOf(failure).priority, 'ERROR');
    assert.match(eventOf(failure).payload as unknown as string, new RegExp(`^Failed to upload image data for image ${id} due to `));
  });
});

describe('the messaging (v1) driver and disabled_notifications', { skip: unavailable }, () => {
  const n = names();
  let server: TestServer;
  let consumer: Consumer;
  before(async () => {
    consumer = await Consumer.bind(n.exchange, `${n.topic}.*`);
    server = await startServer(
      notifyOverrides(n, brokerUrl, [
        { section: 'oslo_messaging_notifications', name: 'driver', value: 'messaging' },
        { section: 'DEFAULT', name: 'disabled_notifications', value: 'image.update,image.member' },
        { section: 'DEFAULT', name: 'default_publisher_id', value: 'image.node-7' },
      ]),
    );
  });
  after(async () => {
    await server?.close();
    await consumer?.close();
    await deleteOnBroker(n.exchange, [`${n.topic}.info`, `${n.topic}.error`]).catch(() => undefined);
  });

  test('v1 sends the bare message; a disabled event and a disabled group are never written', async () => {
    const id = await createImage(server.url, member('p1'), { name: 'v1' });
    assert.equal((await patchImage(server.url, id, member('p1'), [{ op: 'replace', path: '/name', value: 'v1b' }])).status, 200);
    assert.equal((await api(server.url, 'POST', `/v2/images/${id}/members`, { headers: member('p1'), json: { member: 'p2' } })).status, 200);
    assert.equal((await api(server.url, 'DELETE', `/v2/images/${id}`, { headers: member('p1') })).status, 204);
    const got = await consumer.waitFor(2);
    assert.deepEqual(types(got), ['image.create', 'image.delete']);
    assert.equal(got[0]!.body['oslo.version'], undefined);
    assert.deepEqual({ publisher: got[0]!.body.publisher_id, name: (got[0]!.body.payload as Record<string, unknown>).name }, { publisher: 'image.node-7', name: 'v1' });
    assert.deepEqual(await server.service.db.selectFrom('outbox').selectAll().execute(), []);
  });
});

describe('two nodes on one database', { skip: unavailable }, () => {
  const n = names();
  let a: TestServer;
  let b: TestServer | undefined;
  let consumer: Consumer;
  before(async () => {
    consumer = await Consumer.bind(n.exchange, `${n.topic}.*`);
    a = await startServer(notifyOverrides(n, brokerUrl));
    await until('the first node to publish', () => a.service.publisher!.counters().publishing);
    b = await startSecondServer(a, notifyOverrides(n, brokerUrl));
  });
  after(async () => {
    await b?.close();
    await a?.close();
    await consumer?.close();
    await deleteOnBroker(n.exchange, [`${n.topic}.info`, `${n.topic}.error`]).catch(() => undefined);
  });

  test('one publishes the events of both, in order; when it stops, the other takes over within a heartbeat', async () => {
    assert.equal(b!.service.publisher!.counters().publishing, false, 'the lease is the first node\'s');
    const owner = member('p1');
    const id = await createImage(b!.url, owner, { name: 'via b' });
    assert.equal((await patchImage(a.url, id, owner, [{ op: 'replace', path: '/name', value: 'via a' }])).status, 200);
    assert.equal((await patchImage(b!.url, id, owner, [{ op: 'replace', path: '/name', value: 'via b again' }])).status, 200);
    const got = await consumer.waitFor(3);
    assert.deepEqual(got.map((r) => [eventOf(r).event_type, eventOf(r).payload.name]), [['image.create', 'via b'], ['image.update', 'via a'], ['image.update', 'via b again']]);
    assert.equal(b!.service.publisher!.counters().sent, 0);

    // A clean stop releases the lease: the other node takes it at its next heartbeat, without waiting for it to expire.
    await a.service.publisher!.close();
    const t0 = Date.now();
    await until('the second node to publish', () => b!.service.publisher!.counters().publishing, 15_000);
    assert.ok(Date.now() - t0 < 6_000, `took over after ${Date.now() - t0} ms`);
    await createImage(a.url, owner, { name: 'after the handover' });
    const after = await consumer.waitFor(1);
    assert.deepEqual(after.map((r) => eventOf(r).payload.name), ['after the handover']);
  });
});

describe('a broker outage', { skip: unavailable }, () => {
  const n = names();
  let server: TestServer;
  let consumer: Consumer;
  let proxy: BrokerProxy;
  before(async () => {
    proxy = await BrokerProxy.start();
    consumer = await Consumer.bind(n.exchange, `${n.topic}.*`);
    server = await startServer(notifyOverrides(n, `rabbit://guest:guest@127.0.0.1:${proxy.port}/`));
  });
  after(async () => {
    await server?.close();
    await proxy?.cut();
    await consumer?.close();
    await deleteOnBroker(n.exchange, [`${n.topic}.info`, `${n.topic}.error`]).catch(() => undefined);
  });

  test('never fails or slows a request; every event arrives, in order, once the broker is reachable again', async () => {
    const owner = member('p1');
    // Connected and delivering first, so the cut drops a live connection.
    const first = await createImage(server.url, owner, { name: 'before' });
    assert.equal(eventOf((await consumer.waitFor(1))[0]!).payload.id, first);

    await proxy.cut();
    const ids: string[] = [];
    const slowest = { ms: 0 };
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const id = await createImage(server.url, owner, { name: `during-${i}` });
      const t1 = performance.now();
      assert.equal((await patchImage(server.url, id, owner, [{ op: 'add', path: '/tag', value: `t${i}` }])).status, 200);
      const t2 = performance.now();
      slowest.ms = Math.max(slowest.ms, t1 - t0, t2 - t1);
      ids.push(id);
    }
    // A request that waited for the broker would take its connect timeout (10 s) or a backoff (≥ 250 ms).
    assert.ok(slowest.ms < 200, `the slowest request took ${Math.round(slowest.ms)} ms while the broker was unreachable`);
    assert.equal(consumer.received.length, 0, 'nothing arrives while the broker is unreachable');
    assert.equal((await server.service.db.selectFrom('outbox').selectAll().execute()).length, 10, 'the events wait in the outbox');

    await proxy.restore();
    const got = await consumer.waitFor(10, 40_000);
    assert.deepEqual(
      got.map((r) => [eventOf(r).event_type, eventOf(r).payload.id]),
      ids.flatMap((id) => [['image.create', id], ['image.update', id]]),
    );
    assert.deepEqual(got.filter((_, i) => i % 2 === 1).map((r) => eventOf(r).payload.properties), ids.map((_, i) => ({ tag: `t${i}` })));
    assert.equal(server.service.publisher!.counters().dropped, 0);
  });
});

describe('a server killed right after a commit', { skip: unavailable }, () => {
  const n = names();
  let consumer: Consumer;
  let proxy: BrokerProxy;
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let child: ChildServer | undefined;
  before(async () => {
    proxy = await BrokerProxy.start();
    consumer = await Consumer.bind(n.exchange, `${n.topic}.*`);
    database = await freshDatabase();
  });
  after(async () => {
    await child?.kill();
    await proxy?.cut();
    await consumer?.close();
    await database?.drop();
    await deleteOnBroker(n.exchange, [`${n.topic}.info`, `${n.topic}.error`]).catch(() => undefined);
  });

  test('loses no event: it is delivered after the restart', async () => {
    const config = writeChildConfig(database.dir, database.url, {
      defaults: `control_exchange = ${n.exchange}\n`,
      sections: `[oslo_messaging_notifications]\ndriver = messagingv2\ntopics = ${n.topic}\ntransport_url = rabbit://guest:guest@127.0.0.1:${proxy.port}/\n`,
    });
    child = await spawnServer(database.dir, ['--config', config]);
    // The broker is unreachable when the change commits: its event can only be in the outbox when the process dies.
    await proxy.cut();
    const id = await createImage(child.url, member('p1'), { name: 'survivor' });
    await child.kill();
    assert.equal(consumer.received.length, 0);

    await proxy.restore();
    child = await spawnServer(database.dir, ['--config', config]);
    // The dead process's publisher lease expires (3 heartbeats of 1 s), then the new process sends what is left.
    const got = await consumer.waitFor(1, 20_000);
    assert.deepEqual(got.map((r) => [eventOf(r).event_type, eventOf(r).payload.id, eventOf(r).payload.name]), [['image.create', id, 'survivor']]);
  });
});

/** A port nothing listens on: the broker is down for these servers (they need no RabbitMQ). */
async function deadBrokerUrl(): Promise<string> {
  const proxy = await BrokerProxy.start();
  await proxy.cut();
  return `rabbit://guest:guest@127.0.0.1:${proxy.port}/`;
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('events that cannot be delivered', () => {
  test('an event older than outbox_max_age is dropped and counted; younger ones wait', async () => {
    const server = await startServer(notifyOverrides(names(), await deadBrokerUrl()));
    try {
      const day = 86_400_000;
      const outbox = new SqlUnitOfWork(server.service.db).repos.outbox;
      await outbox.append({ messageId: randomUUID(), publisherId: 'image.gone', eventType: 'image.create', priority: 'INFO', payload: { id: 'old' }, createdAt: Date.now() - 4 * day });
      const id = await createImage(server.url, member('p1'));
      await until('the old event to be dropped', () => server.service.publisher!.counters().dropped === 1);
      const left = await server.service.db.selectFrom('outbox').select(['event_type', 'payload']).execute();
      assert.deepEqual(left.map((r) => [r.event_type, (JSON.parse(r.payload) as { id: string }).id]), [['image.create', id]]);
      assert.equal(server.service.publisher!.counters().sent, 0);
    } finally {
      await server.close();
    }
  });

  test('[oslo_messaging_notifications] retry: an event is dropped after retry + 1 failed attempts', async () => {
    const server = await startServer(notifyOverrides(names(), await deadBrokerUrl(), [{ section: 'oslo_messaging_notifications', name: 'retry', value: '1' }]));
    try {
      await createImage(server.url, member('p1'));
      await until('the event to be dropped', () => server.service.publisher!.counters().dropped === 1);
      assert.deepEqual(await server.service.db.selectFrom('outbox').selectAll().execute(), []);
    } finally {
      await server.close();
    }
  });

  test('with notifications off (no driver: Glance\'s default) nothing is written', async () => {
    const server = await startServer();
    try {
      const id = await createImage(server.url, member('p1'));
      assert.equal((await upload(server.url, id, Buffer.from('x'), member('p1'))).status, 204);
      assert.equal(server.service.publisher, undefined);
      assert.deepEqual(await server.service.db.selectFrom('outbox').selectAll().execute(), []);
    } finally {
      await server.close();
    }
  });
});
