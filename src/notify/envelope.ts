/**
 * What goes on the wire for one event, as oslo.messaging's notifier builds it: the message
 * (message_id, publisher_id, event_type, priority, payload, timestamp, and the driver's
 * `_unique_id`), inside the v2 envelope (`oslo.version` 2.0, `oslo.message` the message as a JSON
 * string) for `messagingv2`, bare for `messaging` (v1). Glance passes an empty context, so no
 * `_context_*` keys appear. Routing key: `<topic>.<priority lower-cased>`.
 */
import { randomUUID } from 'node:crypto';
import type { OutboxEvent } from '../domain/ports.js';

/** Python's str(datetime.utcnow()): `YYYY-MM-DD HH:MM:SS.ffffff`, the fraction left out when it is zero. */
export function pythonUtcTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const millis = iso.slice(20, 23);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${millis === '000' ? '' : `.${millis}000`}`;
}

/** The notification as oslo.messaging's Notifier._notify builds it. */
export function notificationMessage(event: OutboxEvent): Record<string, unknown> {
  return {
    message_id: event.messageId,
    publisher_id: event.publisherId,
    event_type: event.eventType,
    priority: event.priority,
    payload: event.payload,
    timestamp: pythonUtcTimestamp(event.createdAt),
  };
}

/** The body the AMQP drivers publish: v2 wraps the message (with `_unique_id`) in the envelope. */
export function wireBody(event: OutboxEvent, version: 1 | 2): Record<string, unknown> {
  const message = { ...notificationMessage(event), _unique_id: randomUUID().replace(/-/g, '') };
  return version === 2 ? { 'oslo.version': '2.0', 'oslo.message': JSON.stringify(message) } : message;
}

export function routingKey(topic: string, priority: OutboxEvent['priority']): string {
  return `${topic}.${priority.toLowerCase()}`;
}
