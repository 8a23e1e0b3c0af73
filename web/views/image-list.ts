/**
 * The image list: the API's filters, sorting and page size kept in the URL hash, one page at a
 * time from the server (marker paging: Next follows the API's `next`, Previous pops a stack of
 * the markers seen), with status badges, human sizes, owner and visibility. On a phone the table
 * becomes cards (console.css).
 */
import type { Image } from '../../src/sdk/types.js';
import { app, errorSlot, myProject, showError } from '../app.js';
import { badge, field, h, replace, select } from '../dom.js';
import { formatBytes, formatDate } from '../format.js';
import { hashOf, navigate, type ViewContext } from '../router.js';
import { imageFormats, STATUSES } from './image-fields.js';

const FILTERS = ['name', 'status', 'visibility', 'owner', 'tag', 'disk_format', 'member_status'] as const;
const SORT_KEYS: [string, string][] = [
  ['created_at', 'Created'],
  ['updated_at', 'Updated'],
  ['name', 'Name'],
  ['status', 'Status'],
  ['size', 'Size'],
  ['disk_format', 'Disk format'],
  ['visibility', 'Visibility'],
  ['owner', 'Owner'],
];
const PAGE_SIZES = ['10', '20', '50', '100'];
const DEFAULT_LIMIT = '20';

/** The markers of the pages before this one, for the same filters (paging back without the API's help). */
let markers: { key: string; stack: string[] } = { key: '', stack: [] };

export async function imageListView(ctx: ViewContext): Promise<void> {
  const q = ctx.query;
  const filtersKey = [...q].filter(([k]) => k !== 'marker').map(([k, v]) => `${k}=${v}`).join('&');
  if (markers.key !== filtersKey) markers = { key: filtersKey, stack: [] };
  const marker = q.get('marker') ?? '';
  // Loaded with a marker we did not page to (a bookmark): Previous goes to the first page.
  if (!marker) markers.stack = [];

  const v = (name: string) => q.get(name) ?? '';
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter images' },
    field('Name', h('input', { name: 'name', value: v('name'), type: 'search' })),
    field('Status', select({ name: 'status' }, [['', 'any'], ...STATUSES.map((s): [string, string] => [s, s])], v('status'))),
    field('Visibility', select({ name: 'visibility' }, [['', 'default'], 'public', 'private', 'shared', 'community', 'all'], v('visibility'))),
    field('Owner', h('input', { name: 'owner', value: v('owner'), placeholder: 'project id' })),
    field('Tag', h('input', { name: 'tag', value: v('tag') })),
    field('Disk format', select({ name: 'disk_format' }, [['', 'any'], ...(await imageFormats()).disk.map((s): [string, string] => [s, s])], v('disk_format'))),
    field('Member status', select({ name: 'member_status' }, [['', 'default'], 'accepted', 'pending', 'rejected', 'all'], v('member_status'))),
    field('Sort by', select({ name: 'sort_key' }, SORT_KEYS, v('sort_key') || 'created_at')),
    field('Order', select({ name: 'sort_dir' }, [['desc', 'descending'], ['asc', 'ascending']], v('sort_dir') || 'desc')),
    field('Per page', select({ name: 'limit' }, PAGE_SIZES, v('limit') || DEFAULT_LIMIT)),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Apply'), h('a', { href: '#/images', class: 'button' }, 'Reset')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [k, val] of new FormData(form)) if (typeof val === 'string' && val.trim() !== '') next.set(k, val.trim());
    if (next.get('sort_key') === 'created_at' && next.get('sort_dir') === 'desc') {
      next.delete('sort_key');
      next.delete('sort_dir');
    }
    if (next.get('limit') === DEFAULT_LIMIT) next.delete('limit');
    navigate('/images', next);
  });

  const alert = errorSlot();
  const results = h('div', { class: 'results', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  ctx.root.append(
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Images'), h('a', { href: '#/images/new', class: 'button primary' }, 'New image')),
    h('details', { class: 'filter-box', open: FILTERS.some((f) => q.has(f)) || q.has('sort_key') || q.has('limit') }, h('summary', {}, 'Filters and sorting'), form),
    alert,
    results,
  );

  const query: [string, string][] = [];
  for (const f of FILTERS) if (q.get(f)) query.push([f, q.get(f)!]);
  query.push(['sort_key', v('sort_key') || 'created_at'], ['sort_dir', v('sort_dir') || 'desc'], ['limit', v('limit') || DEFAULT_LIMIT]);
  if (marker) query.push(['marker', marker]);

  let page: { images: Image[]; next: string | null };
  try {
    page = await app.client.images.page(query);
  } catch (err) {
    results.replaceChildren();
    showError(alert, err);
    return;
  }
  if (ctx.signal.aborted) return;

  const nextMarker = page.next ? new URLSearchParams(page.next).get('marker') : null;
  const base = new URLSearchParams(q);
  base.delete('marker');
  const pager = h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    h(
      'button',
      {
        type: 'button',
        disabled: !marker,
        onclick: () => {
          const prev = markers.stack.pop() ?? '';
          const to = new URLSearchParams(base);
          if (prev) to.set('marker', prev);
          location.hash = hashOf('/images', to);
        },
      },
      '← Previous',
    ),
    h('span', { class: 'muted' }, `Page ${markers.stack.length + 1}`),
    h(
      'button',
      {
        type: 'button',
        disabled: !nextMarker,
        onclick: () => {
          markers.stack.push(marker);
          const to = new URLSearchParams(base);
          to.set('marker', nextMarker!);
          location.hash = hashOf('/images', to);
        },
      },
      'Next →',
    ),
  );

  if (page.images.length === 0) {
    replace(results, h('p', { class: 'empty' }, marker ? 'No more images.' : 'No images match these filters.'), marker ? pager : null);
    return;
  }
  const me = myProject();
  const row = (img: Image) =>
    h(
      'tr',
      {},
      h('td', { 'data-label': 'Name', class: 'name' }, h('a', { href: `#/images/${encodeURIComponent(img.id)}` }, img.name || '(no name)'), h('div', { class: 'id muted' }, img.id)),
      h('td', { 'data-label': 'Status' }, badge(img.status)),
      h('td', { 'data-label': 'Visibility' }, img.visibility),
      h('td', { 'data-label': 'Size', class: 'num', title: img.size === null ? '' : `${img.size} bytes` }, formatBytes(img.size)),
      h('td', { 'data-label': 'Format' }, [img.disk_format, img.container_format].filter(Boolean).join(' / ') || '—'),
      h('td', { 'data-label': 'Owner', class: 'owner', title: img.owner ?? '' }, img.owner && img.owner === me ? 'this project' : (img.owner ?? '—')),
      h('td', { 'data-label': 'Created' }, formatDate(img.created_at)),
    );
  results.replaceChildren(
    h(
      'table',
      { class: 'images responsive' },
      h('caption', { class: 'visually-hidden' }, 'Images'),
      h('thead', {}, h('tr', {}, ['Name', 'Status', 'Visibility', 'Size', 'Format', 'Owner', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, page.images.map(row)),
    ),
    pager,
  );
}
