/**
 * A new image: its name, formats, visibility, minimums, protection and tags, then its data (see
 * image-data.ts). Submitting creates the image and sends the data; when the data step fails
 * (cancelled, over quota), the image exists: submitting again retries only the data.
 */
import type { Image, NewImage } from '../../src/sdk/types.js';
import { app, errorSlot, showError } from '../app.js';
import { busy, field, formValue, h, select } from '../dom.js';
import { navigate, type ViewContext } from '../router.js';
import { dataPanel } from './image-data.js';
import { imageFormats, minimumsAndProtection, VISIBILITIES } from './image-fields.js';
import { tagEditor } from './tag-editor.js';

export async function imageCreateView(ctx: ViewContext): Promise<void> {
  const formats = await imageFormats();
  const alert = errorSlot();
  const tags = tagEditor([]);
  const data = dataPanel(ctx.signal, { allowNone: true, onActive: (image) => done(image) });
  const created = h('p', { class: 'notice', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create image');
  const form = h(
    'form',
    { class: 'image-form', novalidate: true },
    h(
      'fieldset',
      { class: 'grid' },
      h('legend', {}, 'Image'),
      field('Name', h('input', { name: 'name', required: true, autocomplete: 'off' })),
      field('Disk format', select({ name: 'disk_format' }, formats.disk, formats.disk.includes('raw') ? 'raw' : formats.disk[0])),
      field('Container format', select({ name: 'container_format' }, formats.container, formats.container.includes('bare') ? 'bare' : formats.container[0])),
      field('Visibility', select({ name: 'visibility' }, VISIBILITIES, 'private')),
      ...minimumsAndProtection(),
    ),
    h('fieldset', {}, h('legend', {}, 'Tags'), tags.element),
    data.element,
    created,
    alert,
    h('div', { class: 'actions' }, submit, h('a', { href: '#/images', class: 'button' }, 'Cancel')),
  );

  let image: Image | null = null;
  const done = (active: Image) => {
    created.replaceChildren('The image is active. ', h('a', { href: `#/images/${encodeURIComponent(active.id)}` }, 'Open it'), '.');
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    showError(alert, null);
    const name = formValue(form, 'name');
    if (!name) {
      showError(alert, 'Give the image a name.');
      (form.elements.namedItem('name') as HTMLInputElement).focus();
      return;
    }
    const problem = data.validate();
    if (problem) {
      showError(alert, problem);
      return;
    }
    void busy(form, async () => {
      if (!image) {
        const fields: NewImage = {
          name,
          disk_format: formValue(form, 'disk_format'),
          container_format: formValue(form, 'container_format'),
          visibility: formValue(form, 'visibility') as Image['visibility'],
          min_disk: Number(formValue(form, 'min_disk') || 0),
          min_ram: Number(formValue(form, 'min_ram') || 0),
          protected: (form.elements.namedItem('protected') as HTMLInputElement).checked,
          tags: tags.value(),
        };
        try {
          image = await app.client.images.create(fields);
        } catch (err) {
          showError(alert, err);
          return;
        }
        // The image exists: its fields are settled; a retry only sends the data.
        for (const el of form.querySelectorAll<HTMLInputElement>('fieldset:not(.data-panel) input, fieldset:not(.data-panel) select, fieldset:not(.data-panel) button')) el.disabled = true;
        created.hidden = false;
        created.replaceChildren('Image created (queued): ', h('a', { href: `#/images/${encodeURIComponent(image.id)}` }, image.name ?? image.id), '.');
      }
      ctx.setLeaveGuard(() => (data.busy() ? 'An upload is running. Leave this page and cancel it?' : null));
      const ok = await data.start(image);
      ctx.setLeaveGuard(null);
      if (ok) navigate(`/images/${encodeURIComponent(image.id)}`);
      else submit.textContent = 'Send the data again';
    });
  });

  ctx.root.append(h('div', { class: 'page-head' }, h('h1', { tabindex: '-1' }, 'New image')), form);
}
