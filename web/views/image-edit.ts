/**
 * Editing an image: name, visibility, protection, minimums, custom properties (rows of key and
 * value; names offered from the metadefs catalogue's definitions for OS::Glance::Image, with their
 * titles, and their allowed values where they have an enum) and tags. Saving sends a JSON patch
 * of what changed, nothing else.
 */
import type { MetadefProperty, PatchOperation } from '../../src/sdk/types.js';
import { app, errorSlot, showError } from '../app.js';
import { busy, field, formValue, h, select, uid } from '../dom.js';
import { navigate, type ViewContext } from '../router.js';
import { customProperties, minimumsAndProtection, VISIBILITIES } from './image-fields.js';
import { tagEditor } from './tag-editor.js';

const RESOURCE_TYPE = 'OS::Glance::Image';

/** The catalogue's image properties by full name (prefix included); empty when there is none or it cannot be read. */
async function catalogue(signal: AbortSignal): Promise<Map<string, MetadefProperty>> {
  const found = new Map<string, MetadefProperty>();
  try {
    for await (const ns of app.client.metadefs.namespaces({ resource_types: RESOURCE_TYPE })) {
      if (signal.aborted) break;
      const prefix = ns.resource_type_associations?.find((a) => a.name === RESOURCE_TYPE)?.prefix ?? '';
      const props = await app.client.metadefs.properties(ns.namespace);
      for (const [name, p] of Object.entries(props)) found.set(`${prefix}${name}`, { ...p, description: p.description ?? ns.display_name });
    }
  } catch {
    // No catalogue (or not readable): free names only.
  }
  return found;
}

export async function imageEditView(ctx: ViewContext): Promise<void> {
  const id = ctx.params.id!;
  const image = await app.client.images.get(id);
  if (ctx.signal.aborted) return;
  document.title = `Edit ${image.name ?? image.id} · Ocellus`;

  const datalistId = uid('metadefs');
  const datalist = h('datalist', { id: datalistId });
  const defs = new Map<string, MetadefProperty>();
  const enumLists = h('div', { hidden: true });

  const rows = h('tbody', {});
  const addRow = (key = '', value = '') => {
    const keyInput = h('input', { name: 'prop-key', value: key, list: datalistId, autocomplete: 'off', 'aria-label': 'Property name' });
    const valueInput = h('input', { name: 'prop-value', value, autocomplete: 'off', 'aria-label': 'Property value' });
    const hint = h('small', { class: 'hint' });
    const describe = () => {
      const def = defs.get(keyInput.value.trim());
      hint.textContent = def ? [def.title, def.description].filter(Boolean).join(' — ') : '';
      if (def?.enum?.length) {
        const listId = `enum-${keyInput.value.trim().replace(/[^A-Za-z0-9_-]/g, '_')}`;
        if (!document.getElementById(listId)) enumLists.append(h('datalist', { id: listId }, def.enum.map((v) => h('option', { value: String(v) }))));
        valueInput.setAttribute('list', listId);
      } else valueInput.removeAttribute('list');
    };
    keyInput.addEventListener('input', describe);
    const row = h(
      'tr',
      { class: 'prop-row' },
      h('td', { 'data-label': 'Name' }, keyInput, hint),
      h('td', { 'data-label': 'Value' }, valueInput),
      h('td', {}, h('button', { type: 'button', class: 'small', 'aria-label': `Remove property ${key}`.trim(), onclick: () => (row.remove(), addButton.focus()) }, 'Remove')),
    );
    rows.append(row);
    describe();
    return keyInput;
  };
  const addButton = h('button', { type: 'button', onclick: () => addRow().focus() }, 'Add property');
  const original = customProperties(image).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]);
  for (const [k, v] of original) addRow(k, v);

  const tags = tagEditor(image.tags);
  const alert = errorSlot();
  const form = h(
    'form',
    { class: 'image-form', novalidate: true },
    h(
      'fieldset',
      { class: 'grid' },
      h('legend', {}, 'Image'),
      field('Name', h('input', { name: 'name', value: image.name ?? '', autocomplete: 'off' })),
      field('Visibility', select({ name: 'visibility' }, VISIBILITIES, image.visibility)),
      ...minimumsAndProtection(image),
    ),
    h(
      'fieldset',
      {},
      h('legend', {}, 'Custom properties'),
      h('table', { class: 'props-editor responsive compact' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value'), h('th', {}, ''))), rows),
      addButton,
      datalist,
      enumLists,
    ),
    h('fieldset', {}, h('legend', {}, 'Tags'), tags.element),
    alert,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Save'), h('a', { href: `#/images/${encodeURIComponent(id)}`, class: 'button' }, 'Cancel')),
  );

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    showError(alert, null);
    const ops: PatchOperation[] = [];
    const name = formValue(form, 'name');
    if (name !== (image.name ?? '')) ops.push({ op: 'replace', path: '/name', value: name || null });
    const visibility = formValue(form, 'visibility');
    if (visibility !== image.visibility) ops.push({ op: 'replace', path: '/visibility', value: visibility });
    const prot = (form.elements.namedItem('protected') as HTMLInputElement).checked;
    if (prot !== image.protected) ops.push({ op: 'replace', path: '/protected', value: prot });
    for (const k of ['min_disk', 'min_ram'] as const) {
      const raw = formValue(form, k);
      const n = Number(raw || 0);
      if (!Number.isInteger(n) || n < 0) return showError(alert, `${k === 'min_disk' ? 'Minimum disk' : 'Minimum RAM'} must be a whole number, 0 or more.`);
      if (n !== image[k]) ops.push({ op: 'replace', path: `/${k}`, value: n });
    }
    const wanted = new Map<string, string>();
    for (const row of rows.querySelectorAll('tr')) {
      const [k, v] = [...row.querySelectorAll('input')].map((i) => i.value);
      const key = k!.trim();
      if (!key && !v) continue;
      if (!key) return showError(alert, 'A property has a value but no name.');
      if (wanted.has(key)) return showError(alert, `The property ${key} is there twice.`);
      if (['name', 'visibility', 'protected', 'min_disk', 'min_ram', 'tags'].includes(key)) return showError(alert, `${key} is not a custom property: use its field above.`);
      wanted.set(key, v!);
    }
    const before = new Map(original);
    for (const [k] of original) if (!wanted.has(k)) ops.push({ op: 'remove', path: `/${pointer(k)}` });
    for (const [k, v] of wanted) {
      if (!before.has(k)) ops.push({ op: 'add', path: `/${pointer(k)}`, value: v });
      else if (before.get(k) !== v) ops.push({ op: 'replace', path: `/${pointer(k)}`, value: v });
    }
    const newTags = tags.value();
    if (newTags.length !== image.tags.length || newTags.some((t) => !image.tags.includes(t))) ops.push({ op: 'replace', path: '/tags', value: newTags });
    if (ops.length === 0) return showError(alert, 'Nothing changed.');
    void busy(form, async () => {
      try {
        await app.client.images.update(id, ops);
        navigate(`/images/${encodeURIComponent(id)}`);
      } catch (err) {
        showError(alert, err);
      }
    });
  });

  ctx.root.append(
    h('p', { class: 'crumbs' }, h('a', { href: `#/images/${encodeURIComponent(id)}` }, `← ${image.name || image.id}`)),
    h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'Edit image')),
    form,
  );

  // The catalogue's definitions arrive when they do; the form is usable before.
  void catalogue(ctx.signal).then((found) => {
    for (const [k, v] of found) defs.set(k, v);
    datalist.replaceChildren(...[...found].sort(([a], [b]) => a.localeCompare(b)).map(([k, p]) => h('option', { value: k, label: p.title || k }, p.title || k)));
    for (const input of rows.querySelectorAll<HTMLInputElement>('input[name=prop-key]')) input.dispatchEvent(new Event('input'));
  });
}

/** A JSON pointer segment (RFC 6901): ~ and / escaped. */
function pointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}
