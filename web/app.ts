/**
 * What every view shares once someone is signed in: the SDK client, the session, and the ways to
 * report an error — next to what caused it (errorSlot/showError) or, for the unexpected, in the
 * banner at the top of the page.
 */
import type { ApiClient } from '../src/sdk/api.js';
import { ImageApiError } from '../src/sdk/errors.js';
import { h } from './dom.js';
import { SessionExpiredError, type ConsoleSession } from './session.js';

export interface App {
  client: ApiClient;
  session: ConsoleSession;
}

/** Set by main.ts when the session starts. */
export const app = {} as App;

/** The current project's id (the owner of what it creates). */
export function myProject(): string | null {
  return app.session.state.project.id;
}

/** An error as a sentence for people: the API's message, or what went wrong. */
export function describeError(err: unknown): string {
  if (err instanceof SessionExpiredError) return err.message;
  if (err instanceof ImageApiError) {
    if (err.status === 401) return 'Your session has ended. Sign in again, then submit again: what you typed is kept.';
    return err.message;
  }
  if (err instanceof DOMException && err.name === 'AbortError') return 'Cancelled.';
  if (err instanceof TypeError && /fetch|network/i.test(err.message)) return 'The server could not be reached. Check the connection and try again.';
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * A 401 from a call the SDK does not retry (an XMLHttpRequest upload) ends the session as the
 * SDK's own 401 handling does: the sign-in dialog opens.
 */
export function noticeUnauthorized(err: unknown): void {
  if (err instanceof ImageApiError && err.status === 401 && app.session) app.session.invalidate();
}

/** An empty, hidden alert paragraph to put next to a form or control. */
export function errorSlot(): HTMLParagraphElement {
  return h('p', { class: 'error', role: 'alert', hidden: true });
}

/** Shows an error (or clears it with null) in a slot from errorSlot(). */
export function showError(slot: HTMLElement, err: unknown): void {
  if (err === null || err === undefined) {
    slot.hidden = true;
    slot.textContent = '';
    return;
  }
  noticeUnauthorized(err);
  slot.textContent = typeof err === 'string' ? err : describeError(err);
  slot.hidden = false;
}

/** The banner for errors that belong to no form (a failed load, a bug). */
export function showBanner(message: string): void {
  const banner = document.getElementById('banner');
  if (!banner) return;
  const text = banner.querySelector('.banner-text');
  if (text) text.textContent = message;
  banner.hidden = false;
}

export function hideBanner(): void {
  const banner = document.getElementById('banner');
  if (banner) banner.hidden = true;
}
