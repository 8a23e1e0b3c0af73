/**
 * One image: every property (its own fields, then the custom ones), tags, locations and stores
 * where the API shows them, members (see members.ts), import tasks, and the actions the caller
 * may take: edit, download, upload data while queued, deactivate/reactivate (admins), delete
 * after a confirmation dialog.
 */
import type { Image, Task } from '../../src/sdk/types.js';
import { app, describeError, errorSlot, myProject, showError } from '../app.js';
import { badge, busy, h } from '../dom.js';
import { formatBytes, formatDate, formatValue } from '../format.js';
import { navigate, rerender, type ViewContext } from '../router.js';
import { dataPanel } from './image-data.js';
import { BASE_FIELDS, customProperties } from './image-fields.js';
import { membersSection } from './members.js';

const LABELS: Record<string, string> = {
  id: 'ID',
  os_hidden: 'Hidden (os_hidden)',
  virtual_size: 'Virtual size',
  disk_format: 'Disk format',
  container_format: 'Container format',
  min_disk: 'Minimum disk',
  min_ram: 'Minimum RAM',
  os_hash_algo: 'Hash algorithm',
  os_hash_value: 'Hash',
  checksum: 'Checksum (MD5)',
  created_at: 'Created',
  updated_at: 'Updated',
  direct_url: 'Direct URL',
};

const label = (k: string) => LABELS[k] ?? k.charAt(0).toUpperCase() + k.slice(1).replace(/_/g, ' ');

function fieldValue(k: string, v: unknown): Node | string {
  if (v === undefined) return '—';
  switch (k) {
    case 'status':
      return badge(String(v));
    case 'size':
    case 'virtual_size':
      return v === null ? '—' : h('span', { title: `${String(v)} bytes` }, `${formatBytes(v as number)} (${Number(v).toLocaleString()} bytes)`);
    case 'min_disk':
      return `${String(v)} GiB`;
    case 'min_ram':
      return `${String(v)} MiB`;
    case 'created_at':
    case 'updated_at':
      return h('time', { datetime: String(v) }, formatDate(String(v)));
    case 'os_hash_value':
    case 'checksum':
      return h('code', { class: 'hash' }, formatValue(v));
    default:
      return formatValue(v);
  }
}

/** Fields with their labels; custom properties (`raw`) under their own names. */
function propertyList(entries: [string, unknown][], raw = false): HTMLElement {
  return h('dl', { class: 'props' }, entries.map(([k, v]) => h('div', { class: 'prop' }, h('dt', {}, raw ? h('code', {}, k) : label(k)), h('dd', {}, raw ? formatValue(v) : fieldValue(k, v)))));
}

/** The delete confirmation: a modal <dialog>; resolves true on Delete. */
function confirmDelete(image: Image): Promise<boolean> {
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', value: 'cancel', class: 'cancel' }, 'Cancel');
    const confirm = h('button', { type: 'button', value: 'delete', class: 'danger' }, 'Delete image');
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-title', 'aria-describedby': 'confirm-text' },
      h('h2', { id: 'confirm-title' }, 'Delete this image?'),
      h('p', { id: 'confirm-text' }, `“${image.name ?? image.id}” and its data will be deleted. This cannot be undone.`),
      h('div', { class: 'actions' }, confirm, cancel),
    );
    let answer = false;
    cancel.addEventListener('click', () => dialog.close());
    confirm.addEventListener('click', () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

function tasksSection(tasks: Task[] | Error): HTMLElement {
  const section = h('section', { class: 'card', 'aria-labelledby': 'tasks-title' }, h('h2', { id: 'tasks-title' }, 'Import tasks'));
  if (tasks instanceof Error) section.append(h('p', { class: 'muted' }, `Not shown: ${describeError(tasks)}`));
  else if (tasks.length === 0) section.append(h('p', { class: 'muted' }, 'No import tasks.'));
  else
    section.append(
      h(
        'table',
        { class: 'responsive compact' },
        h('thead', {}, h('tr', {}, ['Type', 'Status', 'Message', 'Updated'].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          {},
          tasks.map((t) =>
            h(
              'tr',
              {},
              h('td', { 'data-label': 'Type' }, t.type, h('div', { class: 'id muted' }, t.id)),
              h('td', { 'data-label': 'Status' }, badge(t.status)),
              h('td', { 'data-label': 'Message' }, t.message || '—'),
              h('td', { 'data-label': 'Updated' }, formatDate(t.updated_at)),
            ),
          ),
        ),
      ),
    );
  return section;
}

export async function imageDetailView(ctx: ViewContext): Promise<void> {
  const id = ctx.params.id!;
  const image = await app.client.images.get(id);
  if (ctx.signal.aborted) return;
  const tasks = await app.client.images.tasks(id).catch((err: Error) => err);
  if (ctx.signal.aborted) return;
  document.title = `${image.name ?? image.id} · Ocellus`;

  const actionsAlert = errorSlot();
  const action = (text: string, work: () => Promise<void>, cls = '') =>
    h(
      'button',
      {
        type: 'button',
        class: cls,
        onclick: (e: Event) => {
          const bar = (e.currentTarget as HTMLElement).parentElement!;
          void busy(bar, async () => {
            showError(actionsAlert, null);
            try {
              await work();
            } catch (err) {
              showError(actionsAlert, err);
            }
          });
        },
      },
      text,
    );
  const isAdmin = app.session.state.isAdmin;
  // Glance's default rules: the owner (or an admin) changes an image; a project it is shared with only uses it.
  const mayChange = isAdmin || (image.owner !== null && image.owner === myProject());
  const fileUrl = `/console/api/v2/images/${encodeURIComponent(image.id)}/file`;
  const actions = h(
    'div',
    { class: 'toolbar', role: 'group', 'aria-label': 'Actions' },
    mayChange ? h('a', { href: `#/images/${encodeURIComponent(image.id)}/edit`, class: 'button' }, 'Edit') : null,
    image.status === 'active' ? h('a', { href: fileUrl, download: image.name ?? image.id, class: 'button' }, 'Download') : null,
    isAdmin && image.status === 'active'
      ? action('Deactivate', async () => {
          await app.client.images.deactivate(image.id);
          rerender();
        })
      : null,
    isAdmin && image.status === 'deactivated'
      ? action('Reactivate', async () => {
          await app.client.images.reactivate(image.id);
          rerender();
        })
      : null,
    mayChange &&
    action(
      'Delete',
      async () => {
        if (!(await confirmDelete(image))) return;
        await app.client.images.delete(image.id);
        navigate('/images');
      },
      'danger',
    ),
  );

  const base = BASE_FIELDS.filter((k) => k in image).map((k): [string, unknown] => [k, image[k]]);
  const custom = customProperties(image);
  const stores = typeof image.stores === 'string' && image.stores ? image.stores.split(',') : [];

  ctx.root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/images' }, '← Images')),
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, image.name || '(no name)', ' ', badge(image.status)), actions),
    actionsAlert,
  );

  if (image.status === 'queued' && mayChange) {
    const panel = dataPanel(ctx.signal, { image, onActive: () => rerender() });
    ctx.setLeaveGuard(() => (panel.busy() ? 'An upload is running. Leave this page and cancel it?' : null));
    ctx.root.append(h('section', { class: 'card', 'aria-labelledby': 'upload-title' }, h('h2', { id: 'upload-title' }, 'Upload data'), h('p', { class: 'muted' }, 'This image has no data yet.'), panel.element));
  }

  ctx.root.append(
    h('div', { class: 'columns' },
      h('section', { class: 'card', 'aria-labelledby': 'props-title' }, h('h2', { id: 'props-title' }, 'Properties'), propertyList(base)),
      h(
        'div',
        {},
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'custom-title' },
          h('h2', { id: 'custom-title' }, 'Custom properties'),
          custom.length ? propertyList(custom, true) : h('p', { class: 'muted' }, 'None.'),
        ),
        h(
          'section',
          { class: 'card', 'aria-labelledby': 'tags-title' },
          h('h2', { id: 'tags-title' }, 'Tags'),
          image.tags.length ? h('ul', { class: 'chips' }, image.tags.map((t) => h('li', { class: 'chip' }, t))) : h('p', { class: 'muted' }, 'No tags.'),
        ),
        stores.length || image.locations?.length
          ? h(
              'section',
              { class: 'card', 'aria-labelledby': 'loc-title' },
              h('h2', { id: 'loc-title' }, 'Stores and locations'),
              stores.length ? h('p', {}, 'Stores: ', h('ul', { class: 'chips' }, stores.map((s) => h('li', { class: 'chip' }, s)))) : null,
              image.locations?.length
                ? h('ul', { class: 'locations' }, image.locations.map((l) => h('li', {}, h('code', {}, l.url), l.metadata && Object.keys(l.metadata).length ? h('span', { class: 'muted' }, ` ${JSON.stringify(l.metadata)}`) : null)))
                : null,
            )
          : null,
      ),
    ),
  );
  ctx.root.append(await membersSection(image, ctx.signal), tasksSection(tasks));
  if (TRANSIENT.has(image.status)) void watchStatus(image, ctx.signal);
}

/** Statuses that change by themselves (data arriving, an import running). */
const TRANSIENT = new Set(['saving', 'uploading', 'importing']);

/** While the image is on its way to another status, checks every 2 s and shows the page anew when it changed. */
async function watchStatus(image: Image, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    if (signal.aborted) return;
    let now: Image;
    try {
      now = await app.client.images.get(image.id);
    } catch {
      return; // gone, or the session ended: the next action says so
    }
    if (signal.aborted) return;
    if (now.status !== image.status) return rerender();
  }
}
