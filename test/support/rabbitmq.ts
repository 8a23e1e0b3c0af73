/**
 * RabbitMQ for the notification tests: whether the broker is there (127.0.0.1:5672, guest/guest,
 * or OCELLUS_TEST_RABBIT_URL), a consumer bound to an exchange that collects what arrives, and a
 * TCP proxy in front of the broker that a test cuts and restores to play an outage.
 */
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const RABBIT_HOST = '127.0.0.1';
export const RABBIT_PORT = 5672;

/**
 * Why the RabbitMQ tests cannot run (a message for `skip`), or undefined when they can. In CI
 * (CI=true) an unreachable broker is an error, not a skip.
 */
export async function rabbitUnavailable(): Promise<string | undefined> {
  try {
    const c = await amqp.connect({ hostname: RABBIT_HOST, port: RABBIT_PORT, username: 'guest', password: 'guest' }, { timeout: 3000 });
    await c.close();
    return undefined;
  } catch (err) {
    const reason = `RabbitMQ is not reachable on ${RABBIT_HOST}:${RABBIT_PORT} as guest/guest (${(err as Error).message}); start it to run the notification tests`;
    if (process.env.CI) throw new Error(reason);
    return reason;
  }
}

export interface Received {
  routingKey: string;
  properties: ConsumeMessage['properties'];
  body: Record<string, unknown>;
}

/** A consumer of everything published to `exchange` under `pattern` (a private queue). */
export class Consumer {
  readonly received: Received[] = [];
  private constructor(
    private readonly connection: ChannelModel,
    readonly channel: Channel,
  ) {}

  static async bind(exchange: string, pattern: string): Promise<Consumer> {
    const connection = await amqp.connect({ hostname: RABBIT_HOST, port: RABBIT_PORT, username: 'guest', password: 'guest' });
    const channel = await connection.createChannel();
    // The flags oslo.messaging (and Ocellus) declare it with: not durable, not auto-deleted.
    await channel.assertExchange(exchange, 'topic', { durable: false, autoDelete: false });
    const { queue } = await channel.assertQueue('', { exclusive: true });
    await channel.bindQueue(queue, exchange, pattern);
    const consumer = new Consumer(connection, channel);
    await channel.consume(queue, (m) => {
      if (!m) return;
      consumer.received.push({ routingKey: m.fields.routingKey, properties: m.properties, body: JSON.parse(m.content.toString('utf8')) as Record<string, unknown> });
      channel.ack(m);
    });
    return consumer;
  }

  /** Waits until `n` messages have arrived (fails after `timeoutMs`), then a little longer for any extra one. */
  async waitFor(n: number, timeoutMs = 10_000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < n) {
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${n} notifications; got ${this.received.length}: ${this.received.map((r) => eventOf(r).event_type).join(', ')}`);
      await sleep(20);
    }
    await sleep(200);
    return this.received.splice(0);
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}

/** The oslo.messaging message of a received body: inside the v2 envelope, or the body itself (v1). */
export function eventOf(r: Received): Record<string, unknown> & { event_type: string; payload: Record<string, unknown> } {
  const inner = typeof r.body['oslo.message'] === 'string' ? JSON.parse(r.body['oslo.message']) : r.body;
  return inner as Record<string, unknown> & { event_type: string; payload: Record<string, unknown> };
}

/** Removes what a test declared on the broker (its exchange and its topic's queues). */
export async function deleteOnBroker(exchange: string, queues: string[]): Promise<void> {
  const c = await amqp.connect({ hostname: RABBIT_HOST, port: RABBIT_PORT, username: 'guest', password: 'guest' });
  try {
    const ch = await c.createChannel();
    for (const q of queues) await ch.deleteQueue(q);
    await ch.deleteExchange(exchange);
  } finally {
    await c.close();
  }
}

/**
 * A TCP proxy to the broker on a port of its own: `cut()` drops every connection through it and
 * stops listening (connections are refused, as with the broker down); `restore()` listens again.
 */
export class BrokerProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(readonly port: number) {}

  static async start(): Promise<BrokerProxy> {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    probe.close();
    await once(probe, 'close');
    const proxy = new BrokerProxy(port);
    await proxy.restore();
    return proxy;
  }

  async restore(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(RABBIT_PORT, RABBIT_HOST);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
