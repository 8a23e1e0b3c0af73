import assert from 'node:assert/strict';
import os from 'node:os';
import { test } from 'node:test';
import { ConfigError, loadConfig, notificationOptions } from '../src/config/options.js';
import { buildDrivers, LogDriver } from '../src/notify/drivers.js';
import { pythonUtcTimestamp, routingKey, wireBody } from '../src/notify/envelope.js';
import { parseTransportUrl } from '../src/notify/transport-url.js';

/**
 * The notification options as a glance-api.conf writes them, the transport URL, and the wire
 * format's details (oslo.messaging's timestamp, routing key, envelope) without a broker.
 */

const load = (overrides: { section: string; name: string; value: string }[]) => loadConfig({ overrides, warn: () => undefined });

test("defaults: off (Glance's default), topic notifications, exchange glance, publisher image.<host name>", () => {
  const n = notificationOptions(load([]));
  assert.deepEqual(
    { enabled: n.enabled, drivers: n.drivers, topics: n.topics, exchange: n.exchange, publisherId: n.publisherId, transport: n.transport, retry: n.retry, maxAgeMs: n.maxAgeMs },
    { enabled: false, drivers: [], topics: ['notifications'], exchange: 'glance', publisherId: `image.${os.hostname()}`, transport: null, retry: -1, maxAgeMs: 3 * 86_400_000 },
  );
  assert.equal(notificationOptions(load([{ section: 'oslo_messaging_notifications', name: 'driver', value: 'noop' }])).enabled, false);
});

test('driver and transport_url: [oslo_messaging_notifications] first, then [DEFAULT], then the local broker as guest', () => {
  const driver = { section: 'oslo_messaging_notifications', name: 'driver', value: 'messagingv2, log' };
  const fallback = notificationOptions(load([driver]));
  assert.equal(fallback.enabled, true);
  assert.deepEqual(fallback.drivers, ['messagingv2', 'log']);
  assert.deepEqual(fallback.transport!.brokers, [{ hostname: 'localhost', port: 5672, username: 'guest', password: 'guest' }]);
  const fromDefault = notificationOptions(load([driver, { section: 'DEFAULT', name: 'transport_url', value: 'rabbit://a:b@mq1:5673/prod' }]));
  assert.deepEqual([fromDefault.transport!.brokers[0]!.hostname, fromDefault.transport!.vhost], ['mq1', 'prod']);
  const own = notificationOptions(
    load([driver, { section: 'DEFAULT', name: 'transport_url', value: 'rabbit://a:b@mq1/' }, { section: 'oslo_messaging_notifications', name: 'transport_url', value: 'rabbit://c:d@mq2/' }]),
  );
  assert.equal(own.transport!.brokers[0]!.hostname, 'mq2');
  assert.throws(() => load([{ section: 'oslo_messaging_notifications', name: 'driver', value: 'routing' }]), /'routing' not one of/);
  assert.throws(() => load([driver, { section: 'DEFAULT', name: 'transport_url', value: 'kafka://k:9092/' }]), (err: unknown) => err instanceof ConfigError && /RabbitMQ only/.test((err as Error).message));
  assert.throws(() => load([driver, { section: 'DEFAULT', name: 'transport_url', value: 'rabbit://u:secret@h:99999/' }]), (err: unknown) => /port '99999'/.test((err as Error).message) && !/secret/.test((err as Error).message));
});

test('transport URL: several brokers with their own credentials, escaped passwords, the vhost, IPv6; passwords never shown', () => {
  const t = parseTransportUrl('rabbit://user:p%40ss@h1:5672,other:pw2@[::1]:5673/my%2Fvhost');
  assert.deepEqual(t.brokers, [
    { hostname: 'h1', port: 5672, username: 'user', password: 'p@ss' },
    { hostname: '::1', port: 5673, username: 'other', password: 'pw2' },
  ]);
  assert.equal(t.vhost, 'my/vhost');
  assert.equal(t.shown, 'rabbit://user:***@h1:5672,other:***@[::1]:5673/my%2Fvhost');
  assert.equal(parseTransportUrl('rabbit://u:p@h').vhost, '/');
});

test("wire format: Python's str(utcnow()) timestamps, <topic>.<priority> keys, the v2 envelope and the bare v1 message", () => {
  assert.equal(pythonUtcTimestamp(Date.UTC(2026, 6, 1, 10, 20, 30, 123)), '2026-07-01 10:20:30.123000');
  assert.equal(pythonUtcTimestamp(Date.UTC(2026, 6, 1, 10, 20, 30, 0)), '2026-07-01 10:20:30');
  assert.equal(routingKey('notifications', 'ERROR'), 'notifications.error');
  const event = { seq: 1, messageId: 'a7c1e4a4-0000-4000-8000-000000000001', publisherId: 'image.h', eventType: 'image.create', priority: 'INFO' as const, payload: { id: 'x' }, createdAt: Date.UTC(2026, 0, 2, 3, 4, 5, 6) };
  const v2 = wireBody(event, 2);
  assert.deepEqual(Object.keys(v2), ['oslo.version', 'oslo.message']);
  const inner = JSON.parse(v2['oslo.message'] as string) as Record<string, unknown>;
  assert.deepEqual({ ...inner, _unique_id: undefined }, {
    message_id: event.messageId, publisher_id: 'image.h', event_type: 'image.create', priority: 'INFO', payload: { id: 'x' }, timestamp: '2026-01-02 03:04:05.006000', _unique_id: undefined,
  });
  const v1 = wireBody(event, 1);
  assert.equal(v1.event_type, 'image.create');
  assert.equal(v1['oslo.version'], undefined);
  assert.notEqual(v1._unique_id, inner._unique_id, 'each send has its own _unique_id; message_id stays');
});

test("the log driver: oslo.messaging's LogDriver line — the message as JSON, at its priority, under oslo.messaging.notification.<event_type>", async () => {
  const lines: [string, string, unknown][] = [];
  const driver = new LogDriver((priority, logger, line) => lines.push([priority, logger, JSON.parse(line)]));
  const event = { seq: 7, messageId: 'm-1', publisherId: 'image.h', eventType: 'image.upload', priority: 'ERROR' as const, payload: 'Failed to upload', createdAt: Date.UTC(2026, 0, 1) };
  await driver.send([event]);
  assert.deepEqual(lines, [
    ['ERROR', 'oslo.messaging.notification.image.upload', { message_id: 'm-1', publisher_id: 'image.h', event_type: 'image.upload', priority: 'ERROR', payload: 'Failed to upload', timestamp: '2026-01-01 00:00:00' }],
  ]);
  assert.deepEqual(buildDrivers({ drivers: ['log', 'noop', 'log'], amqp: null, logLine: () => undefined }).map((d) => d.name), ['log']);
});
