/**
 * A tiny element builder: h('button', { type: 'button', onclick }, 'Save'). Attributes are set
 * as attributes (strings), except `on*` handlers, boolean true/false (present/absent) and the
 * DOM properties listed in PROPS; children are nodes or text (never parsed as HTML).
 */

type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (event: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
export type Attrs = Record<string, string | number | boolean | null | undefined | Handler>;

/** Set as properties, not attributes (their attribute is only the initial state). */
const PROPS = new Set(['value', 'checked', 'selected', 'indeterminate']);

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2).toLowerCase(), value);
    else if (PROPS.has(name)) (el as unknown as Record<string, unknown>)[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, ...c);
    else parent.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

let ids = 0;
/** A unique id for pairing labels with fields. */
export function uid(prefix = 'f'): string {
  return `${prefix}-${++ids}`;
}

/** A labelled field: <div class="field"><label for=…>…</label>control hint?</div>. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLDivElement {
  if (!control.id) control.id = uid();
  const hintEl = hint ? h('small', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

/** A checkbox with its label after it. */
export function checkbox(label: string, attrs: Attrs): HTMLDivElement {
  const input = h('input', { type: 'checkbox', id: uid(), ...attrs });
  return h('div', { class: 'field checkbox' }, input, h('label', { for: input.id }, label));
}

/** A <select> of values (labels default to the values); `selected` is chosen. */
export function select(attrs: Attrs, options: (string | [string, string])[], selected?: string): HTMLSelectElement {
  const el = h('select', attrs);
  for (const o of options) {
    const [value, label] = Array.isArray(o) ? o : [o, o];
    el.append(h('option', { value, selected: value === selected }, label));
  }
  if (selected !== undefined) {
    // A value from the URL that is not among the choices stays chosen all the same.
    if (![...el.options].some((o) => o.value === selected)) el.append(h('option', { value: selected }, selected));
    el.value = selected;
  }
  return el;
}

/** A status badge: <span class="badge badge-active">active</span>. */
export function badge(status: string): HTMLSpanElement {
  return h('span', { class: `badge badge-${status.replace(/[^a-z_]/g, '')}` }, status);
}

/** The value of a named control of a form, trimmed. */
export function formValue(form: HTMLFormElement, name: string): string {
  const el = form.elements.namedItem(name);
  if (el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement) return el.value.trim();
  return '';
}

/** Disables a form's buttons while `work` runs (so a double click sends nothing twice), but those marked data-while-busy (Cancel). */
export async function busy<T>(form: HTMLElement, work: () => Promise<T>): Promise<T> {
  const all = [form, ...form.querySelectorAll('button, input[type=submit]')];
  const controls = all.filter((c): c is HTMLButtonElement | HTMLInputElement => (c instanceof HTMLButtonElement || c instanceof HTMLInputElement) && !c.disabled && !c.hasAttribute('data-while-busy'));
  form.setAttribute('aria-busy', 'true');
  for (const c of controls) c.disabled = true;
  try {
    return await work();
  } finally {
    form.removeAttribute('aria-busy');
    for (const c of controls) c.disabled = false;
  }
}
