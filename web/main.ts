/**
 * The Ocellus web console: loads the session, shows the sign-in page or starts the router, keeps
 * the header (who is signed in, sign-out) up to date, and catches what no view did (the banner).
 */
import { ApiClient } from '../src/sdk/api.js';
import { app, describeError, hideBanner, showBanner } from './app.js';
import { h, replace } from './dom.js';
import { rerender, route, startRouter } from './router.js';
import { ConsoleSession, loadSession, signOut, type SignedIn } from './session.js';
import { imageCreateView } from './views/image-create.js';
import { imageDetailView } from './views/image-detail.js';
import { imageEditView } from './views/image-edit.js';
import { imageListView } from './views/image-list.js';
import { signInDialog, signInPage } from './views/signin.js';

route('/images', 'Images', imageListView);
route('/images/new', 'New image', imageCreateView);
route('/images/:id', 'Image', imageDetailView);
route('/images/:id/edit', 'Edit image', imageEditView);

const main = document.getElementById('view') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;

/** The header's user, project, roles and Sign out. */
function renderWho(state: SignedIn | null): void {
  if (!state) {
    replace(who);
    nav.hidden = true;
    return;
  }
  nav.hidden = false;
  const signOutButton = h('button', { type: 'button', class: 'link-button', onclick: () => void doSignOut() }, 'Sign out');
  replace(
    who,
    h(
      'span',
      { class: 'identity' },
      h('span', { class: 'user', title: state.user.id ?? '' }, state.user.name ?? state.user.id ?? 'anonymous'),
      ' · ',
      h('span', { class: 'project', title: state.project.id ?? '' }, state.project.name ?? state.project.id ?? 'no project'),
      ' · ',
      h('span', { class: 'roles' }, state.roles.join(', ') || 'no roles'),
    ),
    signOutButton,
  );
}

async function doSignOut(): Promise<void> {
  try {
    await signOut(app.session?.state.csrfToken);
  } catch (err) {
    showBanner(`Signing out failed: ${describeError(err)}`);
    return;
  }
  location.hash = '';
  location.reload();
}

function reauthenticate(): void {
  const s = app.session.state;
  signInDialog(
    { strategy: s.strategy, user: s.strategy === 'headers' ? s.user.id : s.user.name, project: s.strategy === 'headers' ? s.project.id : s.project.name, roles: s.roles },
    (state) => {
      const sameProject = state.project.id === s.project.id;
      app.session.renew(state);
      renderWho(state);
      hideBanner();
      // Another project sees other images: show the page anew; the same one keeps what was typed.
      if (!sameProject) rerender();
    },
  );
}

function start(state: SignedIn): void {
  app.session = new ConsoleSession(state, reauthenticate);
  app.client = new ApiClient(app.session);
  renderWho(state);
  startRouter(main);
}

async function boot(): Promise<void> {
  window.addEventListener('error', (e) => showBanner(`Unexpected error: ${e.message}`));
  window.addEventListener('unhandledrejection', (e) => showBanner(`Unexpected error: ${describeError(e.reason)}`));
  document.getElementById('banner-close')?.addEventListener('click', hideBanner);
  let state;
  try {
    state = await loadSession();
  } catch (err) {
    replace(main, h('h1', {}, 'Ocellus'), h('p', { class: 'error', role: 'alert' }, `The console could not load its session: ${describeError(err)}`));
    return;
  }
  if (state.signedIn) return start(state);
  renderWho(null);
  signInPage(main, { strategy: state.strategy, userDomain: state.defaults?.userDomain, projectDomain: state.defaults?.projectDomain }, (s) => start(s));
}

void boot();
