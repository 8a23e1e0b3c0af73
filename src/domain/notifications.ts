/**
 * Notifications: Glance's events (image.*, image.member.*, task.*) with Glance's payloads,
 * written to the outbox in the transaction of the change they report. Domain services make their
 * change and its events inside one `notifier.run`; the publisher (notify/) delivers them once
 * committed. With notifications off (no driver, or only `noop`: Glance's default) `run` is the
 * plain repositories, as if it were not there, and nothing is read or written for events.
 */
import { randomUUID } from 'node:crypto';
import type { ImageRecord, MemberRecord } from './image-model.js';
import type { OutboxEvent, Repositories, UnitOfWork } from './ports.js';
import type { TaskRecord } from './task-model.js';

export interface NotifierSettings {
  /** Whether events are written at all (a driver other than `noop` is configured). */
  enabled: boolean;
  /** `disabled_notifications`: event types (`image.create`) or groups (`image`, `task`). */
  disabled: readonly string[];
  /** `default_publisher_id`. */
  publisherId: string;
}

/** Extra payload fields of image.prepare and image.upload (an import's progress, as Glance reports it). */
export interface ImportFields {
  os_glance_importing_to_stores: string[];
  os_glance_failed_import: string[];
}

/** Glance's timeutils.isotime: whole seconds, UTC, `Z`. */
export function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}Z`;
}

/** Glance's format_image_notification: never the locations (they may hold credentials). */
export function imagePayload(image: ImageRecord): Record<string, unknown> {
  return {
    id: image.id,
    name: image.name,
    status: image.status,
    created_at: isoSeconds(image.created_at),
    updated_at: isoSeconds(image.updated_at),
    min_disk: image.min_disk,
    min_ram: image.min_ram,
    protected: image.protected,
    checksum: image.checksum,
    owner: image.owner,
    disk_format: image.disk_format,
    container_format: image.container_format,
    size: image.size,
    virtual_size: image.virtual_size,
    is_public: image.visibility === 'public',
    visibility: image.visibility,
    properties: { ...image.properties },
    tags: [...image.tags],
    deleted: false,
    deleted_at: null,
  };
}

/** os_glance_importing_to_stores and os_glance_failed_import as lists, as image.prepare and image.upload carry them. */
export function importFields(image: ImageRecord): ImportFields {
  const list = (v: string | undefined) => (v ? v.split(',') : []);
  return { os_glance_importing_to_stores: list(image.properties.os_glance_importing_to_stores), os_glance_failed_import: list(image.properties.os_glance_failed_import) };
}

export function memberPayload(m: MemberRecord): Record<string, unknown> {
  return {
    image_id: m.image_id,
    member_id: m.member,
    status: m.status,
    created_at: isoSeconds(m.created_at),
    updated_at: isoSeconds(m.updated_at),
    deleted: false,
    deleted_at: null,
  };
}

/** Glance's format_task_notification: never the input (it may hold credentials), result and message null. */
export function taskPayload(t: TaskRecord, now: number): Record<string, unknown> {
  return {
    id: t.id,
    type: t.type,
    status: t.status,
    result: null,
    owner: t.owner,
    message: null,
    // Glance's isotime(None) is the current time: a running task's expires_at reads "now".
    expires_at: isoSeconds(t.expires_at ?? now),
    created_at: isoSeconds(t.created_at),
    updated_at: isoSeconds(t.updated_at),
    deleted: false,
    deleted_at: null,
  };
}

export class Notifier {
  constructor(
    private readonly uow: UnitOfWork,
    private readonly settings: NotifierSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Whether `eventType` is written: notifications are on and neither it nor a group it is in
   * (`image`, `image.member`, `task`) is disabled. Glance's code compares with the first word
   * only, so its documented `image.member` group disables nothing there; here it does.
   */
  wants(eventType: string): boolean {
    if (!this.settings.enabled) return false;
    return !this.settings.disabled.some((d) => d === eventType || eventType.startsWith(`${d}.`));
  }

  /**
   * Runs `work` in one transaction, for a change and its events to commit together. With
   * notifications off, `work` gets the plain repositories (each call commits on its own, as
   * without a notifier), so the hot paths pay nothing for events.
   */
  run<T>(work: (tx: Repositories) => Promise<T>): Promise<T> {
    return this.settings.enabled ? this.uow.run(work) : work(this.uow.repos);
  }

  /**
   * Image events, in order, all of the image as `image` says (an id: as `tx` reads it now, once
   * for all of them). Each event may carry extra payload fields (Glance's `extra_payload`).
   */
  async image(tx: Repositories, image: ImageRecord | string, ...events: (string | [string, Record<string, unknown>])[]): Promise<void> {
    const wanted = events.filter((e) => this.wants(typeof e === 'string' ? e : e[0]));
    if (wanted.length === 0) return;
    const record = typeof image === 'string' ? (await tx.images.find(image))?.image : image;
    if (!record) return;
    for (const e of wanted) {
      const [type, extra] = typeof e === 'string' ? [e, undefined] : e;
      // Glance's set_data adds the import's progress to both.
      const progress = type === 'image.prepare' || type === 'image.upload' ? importFields(record) : undefined;
      await this.append(tx, type, 'INFO', { ...imagePayload(record), ...progress, ...extra });
    }
  }

  /** image.delete: the image as it was, marked deleted now. */
  async imageDeleted(tx: Repositories, image: ImageRecord, now: number): Promise<void> {
    await this.image(tx, { ...image, status: 'deleted', updated_at: now, deleted_at: now }, ['image.delete', { deleted: true, deleted_at: isoSeconds(now) }]);
  }

  /** A failure Glance reports at ERROR priority with a message string as the payload (image.upload when an upload fails). */
  async error(tx: Repositories, eventType: string, message: string): Promise<void> {
    if (this.wants(eventType)) await this.append(tx, eventType, 'ERROR', message);
  }

  /** image.member.create / .update / .delete (`deleted`: the instant the membership ended). */
  async member(tx: Repositories, eventType: string, member: MemberRecord | undefined, deleted?: number): Promise<void> {
    if (!member || !this.wants(eventType)) return;
    const extra = deleted === undefined ? {} : { deleted: true, deleted_at: isoSeconds(deleted) };
    await this.append(tx, eventType, 'INFO', { ...memberPayload(member), ...extra });
  }

  /** task.* of the task as `task` says (an id: as `tx` reads it now). */
  async task(tx: Repositories, eventType: string, task: TaskRecord | string): Promise<void> {
    if (!this.wants(eventType)) return;
    const record = typeof task === 'string' ? await tx.tasks.find(task) : task;
    if (record) await this.append(tx, eventType, 'INFO', taskPayload(record, this.now()));
  }

  /**
   * image.send: a download ended with every byte asked for read (one that stops short is not
   * reported: Glance's generator never reaches its notification either). Its own small
   * transaction, after the download, never failing it.
   */
  async sent(image: ImageRecord, receiver: { projectId?: string | null; userId?: string | null }, bytesSent: number): Promise<void> {
    if (!this.wants('image.send')) return;
    const payload = { bytes_sent: bytesSent, image_id: image.id, owner_id: image.owner, receiver_tenant_id: receiver.projectId ?? null, receiver_user_id: receiver.userId ?? null };
    await this.uow.run((tx) => this.append(tx, 'image.send', 'INFO', payload));
  }

  /** A metadefs event (metadef_namespace.*, metadef_object.*…); `payload` (metadef-events.ts) is built only when the event is wanted. */
  async metadef(tx: Repositories, eventType: string, payload: () => Record<string, unknown>): Promise<void> {
    if (this.wants(eventType)) await this.append(tx, eventType, 'INFO', payload());
  }

  private append(tx: Repositories, eventType: string, priority: OutboxEvent['priority'], payload: unknown): Promise<void> {
    return tx.outbox.append({ messageId: randomUUID(), publisherId: this.settings.publisherId, eventType, priority, payload, createdAt: this.now() });
  }
}
