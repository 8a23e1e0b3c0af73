/** The publisher and drivers the notification options ask for, as the composition root (service.ts) builds them. */
import type { NotificationOptions } from '../config/notification-options.js';
import type { Leases } from '../domain/leases.js';
import type { OutboxEvent, UnitOfWork } from '../domain/ports.js';
import { buildDrivers } from './drivers.js';
import { NotificationPublisher, type PublisherDeps } from './publisher.js';

export interface PublisherSetup {
  uow: UnitOfWork;
  /** Tells of every commit that wrote events (the unit of work's hook): the publisher's wake-up. */
  commits: { onEventsCommitted(listener: () => void): void };
  leases: Leases;
  log: PublisherDeps['log'];
  /** Where the `log` driver writes. */
  logLine: (priority: OutboxEvent['priority'], logger: string, line: string) => void;
}

/** Most ms to wait for the broker's connection, and for it to confirm a batch. */
const BROKER_TIMEOUT_MS = 10_000;

/** The publisher (not started), woken by every commit that wrote events; undefined when notifications are off. */
export function buildPublisher(options: NotificationOptions, s: PublisherSetup): NotificationPublisher | undefined {
  if (!options.enabled) return undefined;
  const drivers = buildDrivers({
    drivers: options.drivers,
    amqp: options.transport ? { transport: options.transport, exchange: options.exchange, topics: options.topics, durable: options.durable, timeoutMs: BROKER_TIMEOUT_MS } : null,
    logLine: s.logLine,
  });
  const publisher = new NotificationPublisher({
    uow: s.uow,
    leases: s.leases,
    drivers,
    maxAgeMs: options.maxAgeMs,
    retry: options.retry,
    destination: options.transport ? `${options.transport.shown} (exchange ${options.exchange})` : options.drivers.join(', '),
    log: s.log,
  });
  s.commits.onEventsCommitted(() => publisher.wake());
  return publisher;
}
