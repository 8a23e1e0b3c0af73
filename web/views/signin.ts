/**
 * The sign-in form of the server's authentication strategy — Keystone (user, password, domains,
 * project), a token, or trusted headers (project, user, roles) — as the page when nobody is signed
 * in, or as a dialog over the current view when a session ends (what the view holds stays).
 */
import { busy, field, formValue, h } from '../dom.js';
import { signIn, type SignedIn, type Strategy } from '../session.js';

export interface SignInPrefill {
  strategy: Strategy;
  userDomain?: string;
  projectDomain?: string;
  user?: string | null;
  project?: string | null;
  roles?: string[];
}

const INTRO: Record<Strategy, string> = {
  keystone: 'Sign in with your OpenStack (Keystone) account and the project to work in.',
  token: 'Sign in with an API token of this Ocellus.',
  headers: 'Development mode (trusted headers): say which project, user and roles to act as.',
};

/** The form; `onSignedIn` runs after the server accepted it. */
export function signInForm(p: SignInPrefill, onSignedIn: (s: SignedIn) => void): HTMLFormElement {
  const alert = h('p', { class: 'error', role: 'alert', hidden: true });
  const input = (name: string, attrs: Record<string, string | boolean | undefined> = {}) => h('input', { name, required: true, ...attrs });
  let fields: HTMLElement[];
  switch (p.strategy) {
    case 'keystone':
      fields = [
        field('User name', input('username', { autocomplete: 'username', value: p.user ?? undefined })),
        field('Password', input('password', { type: 'password', autocomplete: 'current-password' })),
        field('User domain', input('userDomain', { value: p.userDomain ?? 'Default' })),
        field('Project', input('project', { value: p.project ?? undefined })),
        field('Project domain', input('projectDomain', { value: p.projectDomain ?? 'Default' })),
      ];
      break;
    case 'token':
      fields = [field('Token', input('token', { type: 'password', autocomplete: 'current-password', spellcheck: 'false' }))];
      break;
    default:
      fields = [
        field('Project', input('project', { value: p.project ?? undefined })),
        field('User', input('user', { value: p.user ?? undefined })),
        field('Roles', input('roles', { value: (p.roles ?? ['member', 'reader']).join(',') }), 'Comma-separated, e.g. member,reader or admin,member,reader'),
      ];
  }
  const form = h(
    'form',
    { class: 'signin-form', novalidate: false },
    h('p', { class: 'intro' }, INTRO[p.strategy]),
    fields,
    alert,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const names = [...form.querySelectorAll<HTMLInputElement>('input[name]')].map((i) => i.name);
    const credentials = Object.fromEntries(names.map((n) => [n, n === 'password' || n === 'token' ? (form.elements.namedItem(n) as HTMLInputElement).value : formValue(form, n)]));
    void busy(form, async () => {
      alert.hidden = true;
      try {
        const state = await signIn(credentials);
        const pw = form.elements.namedItem('password') ?? form.elements.namedItem('token');
        if (pw instanceof HTMLInputElement) pw.value = '';
        onSignedIn(state);
      } catch (err) {
        alert.textContent = err instanceof Error ? err.message : String(err);
        alert.hidden = false;
        const pw = form.elements.namedItem('password') ?? form.elements.namedItem('token');
        if (pw instanceof HTMLInputElement) pw.select();
      }
    });
  });
  return form;
}

/** The field to start typing in: the first empty one. */
function firstEmpty(form: HTMLFormElement): HTMLInputElement | null {
  return [...form.querySelectorAll<HTMLInputElement>('input')].find((i) => i.value === '') ?? form.querySelector('input');
}

/** The full-page sign-in, when nobody is signed in. */
export function signInPage(root: HTMLElement, p: SignInPrefill, onSignedIn: (s: SignedIn) => void): void {
  const form = signInForm(p, onSignedIn);
  root.replaceChildren(h('section', { class: 'signin card' }, h('h1', { tabindex: '-1' }, 'Sign in'), form));
  firstEmpty(form)?.focus();
}

let open: HTMLDialogElement | null = null;

/**
 * The session ended: the sign-in form as a modal dialog over the current view. Closing it
 * (Escape, Not now) leaves the page as it is; the next call opens it again.
 */
export function signInDialog(p: SignInPrefill, onSignedIn: (s: SignedIn) => void): void {
  if (open) return;
  const dialog = h('dialog', { class: 'signin-dialog', 'aria-labelledby': 'signin-dialog-title' });
  const form = signInForm(p, (state) => {
    dialog.close();
    onSignedIn(state);
  });
  form.querySelector('.actions')?.append(h('button', { type: 'button', onclick: () => dialog.close() }, 'Not now'));
  dialog.append(h('h2', { id: 'signin-dialog-title' }, 'Your session has ended'), h('p', {}, 'Sign in again to go on. What you typed on the page is kept: submit it again afterwards.'), form);
  dialog.addEventListener('close', () => {
    dialog.remove();
    open = null;
  });
  document.body.append(dialog);
  open = dialog;
  dialog.showModal();
  firstEmpty(form)?.focus();
}
