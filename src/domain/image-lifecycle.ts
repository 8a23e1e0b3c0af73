/**
 * Glance's image status machine, in one place: which status may follow which, and which call
 * (action) moves an image from where to where — or leaves it as it is, or is refused with which
 * answer. Services ask `plan()` before they change a status and hand its `from`/`to` to the
 * repository's one compare-and-set `transition`; a new status or action is a line here.
 */
import type { ImageChanges, ImageStatus } from './image-model.js';
import { BadRequest, Conflict, Forbidden, type DomainError } from './errors.js';

export { IMAGE_STATUSES, type ImageStatus } from './image-model.js';

/** The status graph (reference image-model.md §4): from → statuses that may follow. */
export const TRANSITIONS: Readonly<Record<ImageStatus, readonly ImageStatus[]>> = {
  queued: ['saving', 'uploading', 'importing', 'active', 'deleted'],
  saving: ['active', 'killed', 'deleted', 'queued'],
  uploading: ['importing', 'queued', 'deleted'],
  importing: ['active', 'deleted', 'queued'],
  active: ['pending_delete', 'deleted', 'deactivated'],
  deactivated: ['active', 'deleted'],
  killed: ['deleted'],
  pending_delete: ['deleted', 'active'],
  deleted: [],
};

interface ActionRule {
  /** Statuses the action moves out of, into `to`. */
  readonly from: readonly ImageStatus[];
  readonly to?: ImageStatus;
  /** Statuses in which the call succeeds and the status stays as it is. */
  readonly stays?: readonly ImageStatus[];
  /** The answer in any other status (`subject`: what the call is about, e.g. the attribute). */
  readonly refuse: (status: ImageStatus, subject?: string) => DomainError;
}

const notAllowed = (to: string) => (status: ImageStatus) => new Conflict(`Image status transition from ${status} to ${to} is not allowed`);

/** Every status an image the API can see may be in (pending_delete and deleted images are 404). */
const VISIBLE: readonly ImageStatus[] = ['queued', 'saving', 'uploading', 'importing', 'active', 'deactivated', 'killed'];

/** Each call or event that concerns the status, with Glance's outcome in every status. */
export const ACTIONS = {
  /** PUT /file starts. */
  upload: { from: ['queued'], to: 'saving', refuse: notAllowed('saving') },
  /** PUT /file succeeded: the bytes are stored and recorded. */
  finish_upload: { from: ['saving'], to: 'active', refuse: notAllowed('active') },
  /** PUT /file failed, or its process died: the bytes are removed. */
  abandon_upload: { from: ['saving'], to: 'queued', refuse: notAllowed('queued') },
  /** PUT /stage starts. */
  stage: { from: ['queued'], to: 'uploading', refuse: notAllowed('uploading') },
  /** PUT /stage failed: the staged bytes are removed. */
  abandon_stage: { from: ['uploading'], to: 'queued', refuse: notAllowed('queued') },
  /** POST /import with glance-direct. */
  import_staged: { from: ['uploading'], to: 'importing', refuse: (s) => new Conflict(`Image status is '${s}', not 'uploading': stage the data first.`) },
  /** POST /import with web-download or glance-download. */
  import_remote: { from: ['queued'], to: 'importing', refuse: (s) => new Conflict(`Image status is '${s}', not 'queued'.`) },
  /** POST /import with copy-image: the image stays active. */
  copy_image: { from: [], stays: ['active'], refuse: (s) => new Conflict(`Image status is '${s}', not 'active': only active images can be copied.`) },
  finish_import: { from: ['importing'], to: 'active', refuse: notAllowed('active') },
  fail_import: { from: ['importing'], to: 'queued', refuse: notAllowed('queued') },
  /** PATCH add/replace of a location: a queued image becomes active. */
  add_location: { from: ['queued'], to: 'active', stays: ['active'], refuse: (s) => new Conflict(`Cannot add a location to an image in status '${s}'.`) },
  /** PATCH of disk_format or container_format (Glance's setter, even to the same value). */
  set_formats: { from: [], stays: ['queued', 'importing'], refuse: (_s, attribute = 'disk_format') => new Forbidden(`Attribute ${attribute} can be only replaced for a queued image.`) },
  deactivate: { from: ['active'], to: 'deactivated', stays: ['deactivated'], refuse: (s) => new Forbidden(`Not allowed to deactivate image in status '${s}'`) },
  reactivate: { from: ['deactivated'], to: 'active', stays: ['active'], refuse: (s) => new Forbidden(`Not allowed to reactivate image in status '${s}'`) },
  /** DELETE without delayed delete (or of an image without data). */
  delete: { from: VISIBLE, to: 'deleted', refuse: notAllowed('deleted') },
  /** DELETE with delayed_delete and data: only from active (Glance answers 400 otherwise). */
  delayed_delete: { from: ['active'], to: 'pending_delete', refuse: (s) => new BadRequest(`Image status transition from ${s} to pending_delete is not allowed`) },
  /** The scrubber removed the data of a pending_delete image. */
  scrub: { from: ['pending_delete'], to: 'deleted', refuse: notAllowed('deleted') },
  /** `scrub --restore`. */
  restore: { from: ['pending_delete'], to: 'active', refuse: notAllowed('active') },
} as const satisfies Record<string, ActionRule>;

export type ImageAction = keyof typeof ACTIONS;

/** A status change to make: compare-and-set from `from` to `to`, with the columns entering `to` resets. */
export interface Step {
  from: ImageStatus;
  to: ImageStatus;
  resets: ImageChanges;
}

/** What entering `queued` clears: the data's facts (Glance resets size and virtual_size; the hashes go with them). */
const QUEUED_RESETS: ImageChanges = { size: null, virtual_size: null, checksum: null, os_hash_algo: null, os_hash_value: null };

/** Statuses whose entry needs disk_format and container_format, coming from queued or uploading. */
const NEEDS_FORMATS: readonly ImageStatus[] = ['saving', 'active', 'importing'];

/**
 * What `action` does to an image in its current status: the step to take, or null when the call
 * succeeds without a change; otherwise throws the refusal Glance answers with.
 */
export function plan(
  action: ImageAction,
  image: { status: ImageStatus; disk_format?: string | null; container_format?: string | null },
  subject?: string,
): Step | null {
  const rule: ActionRule = ACTIONS[action];
  const status = image.status;
  if (rule.stays?.includes(status)) return null;
  if (!rule.from.includes(status) || rule.to === undefined) throw rule.refuse(status, subject);
  const to = rule.to;
  if (!TRANSITIONS[status].includes(to)) throw new Error(`image-lifecycle: action ${action} names ${status} → ${to}, which the status graph does not allow`);
  if ((status === 'queued' || status === 'uploading') && NEEDS_FORMATS.includes(to) && (!image.disk_format || !image.container_format)) {
    throw new BadRequest('Properties disk_format and container_format must be set prior to saving data.');
  }
  return { from: status, to, resets: to === 'queued' ? QUEUED_RESETS : {} };
}
