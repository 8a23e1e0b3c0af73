/**
 * The `messagingv2` / `messaging` drivers: events to RabbitMQ over AMQP 0-9-1, as
 * oslo.messaging's rabbit driver sends notifications (impl_rabbit `notify_send`): to the topic
 * exchange `control_exchange`, routing key `<topic>.<priority>`, after declaring the exchange and
 * a queue named like the routing key bound to it (so events are kept while no consumer listens);
 * both durable only with `amqp_durable_queues`, never auto-deleted; messages persistent,
 * `application/json`, utf-8. A confirm channel: a batch counts as sent only once the broker
 * has confirmed every message of it. One connection, opened when first needed and dropped on any
 * error, so the next batch reconnects (to the next broker of the URL); the publisher paces retries.
 */
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import type { OutboxEvent } from '../domain/ports.js';
import type { NotificationDriver } from './drivers.js';
import { routingKey, wireBody } from './envelope.js';
import type { TransportUrl } from './transport-url.js';

export interface AmqpDriverSettings {
  transport: TransportUrl;
  /** `control_exchange`. */
  exchange: string;
  /** `[oslo_messaging_notifications] topics`. */
  topics: readonly string[];
  /** 2: the oslo envelope (`messagingv2`); 1: the bare message (`messaging`). */
  version: 1 | 2;
  /** `[oslo_messaging_rabbit] amqp_durable_queues`. */
  durable: boolean;
  /** Most ms to wait for the connection, and for the broker to confirm a batch. */
  timeoutMs: number;
}

interface Session {
  connection: ChannelModel;
  channel: ConfirmChannel;
  /** Routing keys whose queue is declared and bound on this connection. */
  queues: Set<string>;
  exchangeDeclared: boolean;
}

/** AMQP's PRECONDITION_FAILED: the exchange or queue exists with other flags (declared by someone else). */
const isPreconditionFailed = (err: unknown) => (err as { code?: number }).code === 406;

export class AmqpDriver implements NotificationDriver {
  readonly name: string;
  private session: Promise<Session> | undefined;
  /** The open session `session` resolved to. */
  private live: Session | undefined;
  /** The broker of the URL tried next (turns on every failed connection). */
  private brokerIndex = 0;

  constructor(private readonly s: AmqpDriverSettings) {
    this.name = s.version === 2 ? 'messagingv2' : 'messaging';
  }

  async send(events: readonly OutboxEvent[]): Promise<void> {
    const session = await this.open();
    try {
      for (const e of events) {
        const body = Buffer.from(JSON.stringify(wireBody(e, this.s.version)));
        for (const topic of this.s.topics) {
          const key = routingKey(topic, e.priority);
          await this.declare(session, key);
          const ok = session.channel.publish(this.s.exchange, key, body, {
            contentType: 'application/json',
            contentEncoding: 'utf-8',
            deliveryMode: 2,
          });
          if (!ok) await new Promise((resolve) => session.channel.once('drain', resolve));
        }
      }
      await withTimeout(session.channel.waitForConfirms(), this.s.timeoutMs, 'the broker did not confirm the notifications in time');
    } catch (err) {
      this.drop(session);
      throw err;
    }
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    this.live = undefined;
    if (session) await session.then((s) => s.connection.close()).catch(() => undefined);
  }

  private open(): Promise<Session> {
    if (!this.session) {
      const opening = this.connect();
      this.session = opening;
      opening.catch(() => {
        if (this.session === opening) this.session = undefined;
      });
    }
    return this.session;
  }

  private async connect(): Promise<Session> {
    const broker = this.s.transport.brokers[this.brokerIndex % this.s.transport.brokers.length]!;
    this.brokerIndex++;
    // Loaded on first use: a node that sends no notifications never pays its ~7 MB.
    const { default: amqp } = await import('amqplib');
    const connecting = amqp.connect(
      { protocol: 'amqp', hostname: broker.hostname, port: broker.port, username: broker.username, password: broker.password, vhost: this.s.transport.vhost, heartbeat: 30 },
      { timeout: this.s.timeoutMs },
    );
    const connection = await withTimeout(connecting, this.s.timeoutMs, `no answer from ${broker.hostname}:${broker.port}`).catch((err: unknown) => {
      // A connection that opens after all is closed at once.
      connecting.then((late) => late.close(), () => undefined).catch(() => undefined);
      throw err;
    });
    // Errors also arrive as events; unhandled, they would end the process. Any of them ends the session.
    let session: Session | undefined;
    const lost = () => session && this.drop(session);
    connection.on('error', lost);
    connection.on('close', lost);
    this.brokerIndex--; // connected: keep to this broker
    try {
      const channel = await connection.createConfirmChannel();
      session = { connection, channel, queues: new Set(), exchangeDeclared: false };
      // A channel the broker closes fails the publish or the confirms, which drops the session.
      channel.on('error', () => undefined);
      this.live = session;
      return session;
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * The exchange and the routing key's queue, declared once per connection. One declared
   * differently by someone else (a consumer's durable exchange, say) is used as it is: the broker
   * closes the channel on the mismatch, so a new one is opened and the object only checked.
   */
  private async declare(session: Session, key: string): Promise<void> {
    const flags = { durable: this.s.durable, autoDelete: false };
    if (!session.exchangeDeclared) {
      await this.orCheck(session, (ch) => ch.assertExchange(this.s.exchange, 'topic', flags), (ch) => ch.checkExchange(this.s.exchange));
      session.exchangeDeclared = true;
    }
    if (session.queues.has(key)) return;
    await this.orCheck(session, (ch) => ch.assertQueue(key, flags), (ch) => ch.checkQueue(key));
    await session.channel.bindQueue(key, this.s.exchange, key);
    session.queues.add(key);
  }

  private async orCheck(session: Session, declare: (ch: ConfirmChannel) => Promise<unknown>, check: (ch: ConfirmChannel) => Promise<unknown>): Promise<void> {
    try {
      await declare(session.channel);
    } catch (err) {
      if (!isPreconditionFailed(err)) throw err;
      session.channel = await session.connection.createConfirmChannel();
      session.channel.on('error', () => undefined);
      await check(session.channel);
    }
  }

  /** Forgets the session (the next send reconnects) and closes what is left of it. */
  private drop(session: Session): void {
    if (this.live === session) {
      this.live = undefined;
      this.session = undefined;
    }
    session.connection.close().catch(() => undefined);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
