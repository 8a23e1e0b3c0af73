/**
 * Notification drivers (oslo.messaging's names): `messagingv2` and `messaging` publish to
 * RabbitMQ (amqp-driver.ts), `log` writes each event to the log, `noop` drops them. The publisher
 * hands each driver a batch of events in order; a driver resolves once every one of them is safely
 * with its destination, or rejects (and the whole batch is offered again later).
 */
import type { OutboxEvent } from '../domain/ports.js';
import { AmqpDriver, type AmqpDriverSettings } from './amqp-driver.js';
import { notificationMessage } from './envelope.js';

export interface NotificationDriver {
  readonly name: string;
  send(events: readonly OutboxEvent[]): Promise<void>;
  close(): Promise<void>;
}

export const DRIVER_NAMES = ['messagingv2', 'messaging', 'log', 'noop'] as const;
export type DriverName = (typeof DRIVER_NAMES)[number];

/** Whether the drivers deliver anything: not with none, nor with only `noop` (Glance's default). */
export function notificationsEnabled(drivers: readonly string[]): boolean {
  return drivers.some((d) => d !== 'noop');
}

/** oslo.messaging's LogDriver: the message as JSON, at its priority, under `oslo.messaging.notification.<event_type>`. */
export class LogDriver implements NotificationDriver {
  readonly name = 'log';
  constructor(private readonly write: (priority: OutboxEvent['priority'], logger: string, line: string) => void) {}

  async send(events: readonly OutboxEvent[]): Promise<void> {
    for (const e of events) this.write(e.priority, `oslo.messaging.notification.${e.eventType}`, JSON.stringify(notificationMessage(e)));
  }

  async close(): Promise<void> {}
}

export interface DriverSettings {
  drivers: readonly string[];
  /** The broker settings; null when no messaging driver is configured. */
  amqp: Omit<AmqpDriverSettings, 'version'> | null;
  logLine: (priority: OutboxEvent['priority'], logger: string, line: string) => void;
}

/** The configured drivers (`noop` and duplicates left out). */
export function buildDrivers(s: DriverSettings): NotificationDriver[] {
  const drivers: NotificationDriver[] = [];
  for (const name of new Set(s.drivers)) {
    if ((name === 'messagingv2' || name === 'messaging') && s.amqp) drivers.push(new AmqpDriver({ ...s.amqp, version: name === 'messagingv2' ? 2 : 1 }));
    else if (name === 'log') drivers.push(new LogDriver(s.logLine));
  }
  return drivers;
}
