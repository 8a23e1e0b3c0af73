/**
 * The hash router: #/images, #/images/new, #/images/<id>, #/images/<id>/edit, each with an
 * optional ?query (the list's filters). A view renders into a fresh element and gets a signal
 * that aborts when the user goes elsewhere (its polls stop). A view with work in flight (an
 * upload) may ask before the user leaves.
 */
import { describeError, showBanner, hideBanner } from './app.js';
import { h } from './dom.js';

export interface ViewContext {
  root: HTMLElement;
  params: Record<string, string>;
  query: URLSearchParams;
  signal: AbortSignal;
  /** While `guard` returns a question, leaving asks it (confirm); cleared by navigation. */
  setLeaveGuard(guard: (() => string | null) | null): void;
}

export type View = (ctx: ViewContext) => Promise<void> | void;

interface Route {
  pattern: RegExp;
  names: string[];
  view: View;
  title: string;
}

const routes: Route[] = [];

/** Adds a route: '/images/:id/edit'. */
export function route(path: string, title: string, view: View): void {
  const names: string[] = [];
  const pattern = new RegExp(
    '^' +
      path.replace(/:(\w+)/g, (_m, n: string) => {
        names.push(n);
        return '([^/]+)';
      }) +
      '$',
  );
  routes.push({ pattern, names, view, title });
}

/** The location hash of a path and query: hashOf('/images', {status: 'active'}) → '#/images?status=active'. */
export function hashOf(path: string, query: Record<string, string> | URLSearchParams = {}): string {
  const q = new URLSearchParams(query);
  for (const [k, v] of [...q]) if (v === '') q.delete(k);
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}

export function navigate(path: string, query: Record<string, string> | URLSearchParams = {}): void {
  location.hash = hashOf(path, query);
}

let current: { controller: AbortController; guard: (() => string | null) | null; hash: string } | null = null;
let outlet: HTMLElement;

function parse(): { path: string; query: URLSearchParams } {
  const raw = location.hash.replace(/^#/, '') || '/images';
  const q = raw.indexOf('?');
  return { path: q < 0 ? raw : raw.slice(0, q), query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

async function render(): Promise<void> {
  if (current && current.hash !== location.hash && current.guard) {
    const question = current.guard();
    if (question && !window.confirm(question)) {
      history.replaceState(null, '', current.hash || '#/images');
      return;
    }
  }
  current?.controller.abort();
  const controller = new AbortController();
  current = { controller, guard: null, hash: location.hash };
  const me = current;
  hideBanner();
  const { path, query } = parse();
  const root = h('div', { class: 'view' });
  outlet.replaceChildren(root);
  const found = routes.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  if (!found) {
    root.append(h('h1', { tabindex: '-1' }, 'Not found'), h('p', {}, 'There is no page here. ', h('a', { href: '#/images' }, 'Go to the images.')));
    return;
  }
  const params = Object.fromEntries(found.r.names.map((n, i) => [n, decodeURIComponent(found.m![i + 1]!)]));
  document.title = `${found.r.title} · Ocellus`;
  try {
    await found.r.view({ root, params, query, signal: controller.signal, setLeaveGuard: (g) => (me.guard = g) });
  } catch (err) {
    if (controller.signal.aborted) return;
    root.append(h('p', { class: 'error', role: 'alert' }, `This page could not be shown: ${describeError(err)}`));
    if (!(err instanceof Error && 'status' in err)) showBanner(`Unexpected error: ${describeError(err)}`);
  }
  if (!controller.signal.aborted) {
    const heading = root.querySelector<HTMLElement>('h1');
    if (heading && document.activeElement === document.body) heading.focus({ preventScroll: true });
  }
}

/** Starts routing into `el`. */
export function startRouter(el: HTMLElement): void {
  outlet = el;
  window.addEventListener('hashchange', () => void render());
  window.addEventListener('beforeunload', (e) => {
    if (current?.guard?.()) e.preventDefault();
  });
  void render();
}

/** Renders the current route again (after signing in as someone else). */
export function rerender(): void {
  if (current) current.guard = null;
  void render();
}
