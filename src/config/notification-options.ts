/**
 * The notification options, under Glance's (oslo.messaging's) sections and names, so a
 * glance-api.conf's lines carry over; spread into OPTIONS by options.ts. `notificationOptions`
 * turns them into what the notifier and the publisher need.
 */
import os from 'node:os';
import { DRIVER_NAMES, notificationsEnabled } from '../notify/drivers.js';
import { DEFAULT_TRANSPORT_URL, parseTransportUrl, type TransportUrl } from '../notify/transport-url.js';
import { ConfigError, type OptionSpec } from './option-spec.js';
import type { Config } from './options.js';

/** The [DEFAULT] options of notifications. */
export const NOTIFICATION_DEFAULT_OPTIONS = {
  transport_url: { kind: 'string', default: null, help: 'Message bus URL (rabbit://user:pass@host:port/vhost; several brokers comma-separated) when [oslo_messaging_notifications] transport_url is unset; default rabbit://guest:guest@localhost:5672/.' },
  control_exchange: { kind: 'string', default: 'glance', help: 'The topic exchange notifications are published to.' },
  disabled_notifications: { kind: 'list', default: [], help: 'Events (e.g. image.create, task.success) or whole groups (image, image.member, task) never sent.' },
  default_publisher_id: { kind: 'string', default: null, help: "publisher_id of the events; default image.<this host's name> (Glance's literal default is image.localhost)." },
} as const satisfies Record<string, OptionSpec>;

export const NOTIFICATION_SECTIONS = {
  oslo_messaging_notifications: {
    driver: {
      kind: 'list',
      default: [],
      choices: DRIVER_NAMES,
      help: 'Where events go: messagingv2 (RabbitMQ, oslo.messaging v2 envelope), messaging (RabbitMQ, v1: no envelope), log, noop; empty or noop = notifications off (Glance\'s default): nothing is written.',
    },
    topics: { kind: 'list', default: ['notifications'], help: 'Topics events are published on; the routing key is <topic>.<priority> (notifications.info, notifications.error).' },
    transport_url: { kind: 'string', default: null, help: 'Message bus URL for notifications; default [DEFAULT] transport_url.' },
    retry: { kind: 'int', default: -1, min: -1, help: 'Failed attempts at delivering an event before it is dropped; -1 = retried until it is delivered (or older than outbox_max_age).' },
    outbox_max_age: {
      kind: 'int',
      default: 259200,
      min: 60,
      help: 'Ocellus: seconds an event may wait in the outbox (message bus unreachable) before it is dropped, logged and counted; default 3 days.',
    },
  },
  oslo_messaging_rabbit: {
    amqp_durable_queues: { kind: 'bool', default: false, help: 'Declare the exchange and the notification queues durable (they survive a broker restart).' },
  },
} as const satisfies Record<string, Record<string, OptionSpec>>;

export interface NotificationOptions {
  /** A driver other than noop is configured: events are written and published. */
  enabled: boolean;
  drivers: string[];
  disabled: string[];
  publisherId: string;
  /** Set when a messaging driver is configured. */
  transport: TransportUrl | null;
  exchange: string;
  topics: string[];
  durable: boolean;
  retry: number;
  maxAgeMs: number;
}

/** The notification settings; ConfigError on a transport URL that cannot be used. */
export function notificationOptions(config: Config): NotificationOptions {
  const n = config.oslo_messaging_notifications;
  const drivers = [...n.driver];
  const messaging = drivers.some((d) => d === 'messagingv2' || d === 'messaging');
  let transport: TransportUrl | null = null;
  if (messaging) {
    try {
      transport = parseTransportUrl(n.transport_url ?? config.DEFAULT.transport_url ?? DEFAULT_TRANSPORT_URL);
    } catch (err) {
      throw new ConfigError(`[oslo_messaging_notifications] ${(err as Error).message}`);
    }
  }
  if (n.topics.length === 0 && messaging) throw new ConfigError('[oslo_messaging_notifications] topics must not be empty');
  return {
    enabled: notificationsEnabled(drivers),
    drivers,
    disabled: [...config.DEFAULT.disabled_notifications],
    publisherId: config.DEFAULT.default_publisher_id ?? `image.${os.hostname()}`,
    transport,
    exchange: config.DEFAULT.control_exchange,
    topics: [...n.topics],
    durable: config.oslo_messaging_rabbit.amqp_durable_queues,
    retry: n.retry,
    maxAgeMs: n.outbox_max_age * 1000,
  };
}
