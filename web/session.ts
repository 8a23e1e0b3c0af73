/**
 * The console's session with the server (/console/session): who is signed in, signing in and out,
 * and the SDK Session every API call goes through. The Keystone token stays in the server's
 * HttpOnly cookie; pages only ever see the CSRF token that writes must carry.
 */
import type { Session } from '../src/sdk/api.js';
import { errorMessage } from '../src/sdk/errors.js';

export type Strategy = 'keystone' | 'token' | 'headers';

export interface SignedOut {
  signedIn: false;
  strategy: Strategy;
  defaults?: { userDomain?: string; projectDomain?: string };
}

export interface SignedIn {
  signedIn: true;
  strategy: Strategy;
  csrfToken: string;
  user: { id: string | null; name: string | null };
  project: { id: string | null; name: string | null };
  roles: string[];
  isAdmin: boolean;
  expiresAt: string | null;
}

export type SessionState = SignedIn | SignedOut;

/** What a sign-in form sends: the fields of the server's strategy. */
export type Credentials = Record<string, string>;

/** The server said no to a sign-in (or could not be reached): its message. */
export class SignInError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'SignInError';
  }
}

/** A call made after the session ended (the sign-in dialog is open). */
export class SessionExpiredError extends Error {
  readonly status = 401;
  constructor() {
    super('Your session has ended. Sign in again, then submit again: what you typed is kept.');
    this.name = 'SessionExpiredError';
  }
}

const BASE = '/console/session';

async function sessionCall(method: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(BASE, { method, credentials: 'same-origin', ...init, headers: { accept: 'application/json', ...init.headers } });
  } catch {
    throw new SignInError(0, 'The console could not reach the server. Check the connection and try again.');
  }
}

/** GET /console/session. */
export async function loadSession(): Promise<SessionState> {
  const res = await sessionCall('GET');
  const text = await res.text();
  if (!res.ok) throw new SignInError(res.status, errorMessage(text, res.status));
  return JSON.parse(text) as SessionState;
}

/** POST /console/session: signed in, or a SignInError with the server's message. */
export async function signIn(credentials: Credentials): Promise<SignedIn> {
  const res = await sessionCall('POST', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(credentials) });
  const text = await res.text();
  if (!res.ok) throw new SignInError(res.status, errorMessage(text, res.status));
  return JSON.parse(text) as SignedIn;
}

/** DELETE /console/session (gone already is fine). */
export async function signOut(csrfToken: string | undefined): Promise<void> {
  const res = await sessionCall('DELETE', { headers: csrfToken ? { 'x-csrf-token': csrfToken } : {} });
  if (!res.ok && res.status !== 401) throw new SignInError(res.status, errorMessage(await res.text(), res.status));
}

/**
 * The SDK's Session for the console: calls go to /console/api with the CSRF token; the cookie
 * proves the caller. After a 401 it is `expired` (the SDK calls invalidate()): `onExpired` opens
 * the sign-in dialog and further calls fail with SessionExpiredError until `renew`.
 */
export class ConsoleSession implements Session {
  expired = false;

  constructor(
    public state: SignedIn,
    private readonly onExpired: () => void,
  ) {}

  async current(): Promise<{ endpoint: string; headers: Record<string, string> }> {
    if (this.expired) throw new SessionExpiredError();
    return { endpoint: '/console/api', headers: { 'x-csrf-token': this.state.csrfToken } };
  }

  invalidate(): void {
    if (this.expired) return;
    this.expired = true;
    this.onExpired();
  }

  /** Signed in again: calls go through once more. */
  renew(state: SignedIn): void {
    this.state = state;
    this.expired = false;
  }
}
