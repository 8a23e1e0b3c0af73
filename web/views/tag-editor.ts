/** Tags as removable chips and an input to add more (Enter or the Add button). */
import { h, uid } from '../dom.js';

export interface TagEditor {
  element: HTMLElement;
  value(): string[];
}

export function tagEditor(initial: string[]): TagEditor {
  const tags = [...initial];
  const list = h('ul', { class: 'chips', 'aria-label': 'Tags' });
  const id = uid('tag');
  const input = h('input', { id, name: 'new-tag', autocomplete: 'off', maxlength: 255 });
  const render = () => {
    list.replaceChildren(
      ...tags.map((t, i) =>
        h(
          'li',
          { class: 'chip' },
          h('span', {}, t),
          h(
            'button',
            {
              type: 'button',
              class: 'chip-remove',
              'aria-label': `Remove tag ${t}`,
              onclick: () => {
                tags.splice(i, 1);
                render();
                input.focus();
              },
            },
            '×',
          ),
        ),
      ),
    );
    if (tags.length === 0) list.append(h('li', { class: 'muted' }, 'No tags'));
  };
  const add = () => {
    for (const t of input.value.split(',').map((s) => s.trim()).filter(Boolean)) if (!tags.includes(t)) tags.push(t);
    input.value = '';
    render();
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      add();
    }
  });
  render();
  const element = h(
    'div',
    { class: 'tag-editor' },
    list,
    h('div', { class: 'inline' }, h('label', { for: id, class: 'visually-hidden' }, 'New tag'), input, h('button', { type: 'button', onclick: add }, 'Add tag')),
  );
  return {
    element,
    value: () => {
      if (input.value.trim()) add(); // typed but not added yet: meant all the same
      return [...tags];
    },
  };
}
