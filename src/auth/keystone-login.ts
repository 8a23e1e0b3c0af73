/**
 * A person's Keystone sign-in, for the web console: user name + password scoped to a project
 * (POST /v3/auth/tokens), and the token's revocation at sign-out. The token then authenticates
 * API calls like any other (KeystoneAuth validates it).
 */
import { ServiceUnavailable, Unauthorized } from '../domain/errors.js';

export interface PasswordLogin {
  username: string;
  password: string;
  userDomain: string;
  project: string;
  projectDomain: string;
}

export interface KeystoneLogin {
  token: string;
  expiresAt: number;
  user: { id: string; name: string };
  project: { id: string; name: string };
  roles: string[];
}

interface TokenBody {
  token?: { expires_at?: string; user?: { id?: string; name?: string }; project?: { id?: string; name?: string }; roles?: { name?: string }[] };
}

const TIMEOUT_MS = 15_000;

/** Signs in at Keystone (base URL without /v3); a wrong name, password or project is Unauthorized. */
export async function keystonePasswordLogin(keystoneUrl: string, login: PasswordLogin): Promise<KeystoneLogin> {
  const url = `${keystoneUrl}/v3/auth/tokens?nocatalog`;
  const body = {
    auth: {
      identity: { methods: ['password'], password: { user: { name: login.username, password: login.password, domain: { name: login.userDomain } } } },
      scope: { project: { name: login.project, domain: { name: login.projectDomain } } },
    },
  };
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    throw new ServiceUnavailable(`The identity service (Keystone) at ${keystoneUrl} cannot be reached: ${(err as Error).message}`);
  }
  const parsed = (await res.json().catch(() => ({}))) as TokenBody;
  const token = res.headers.get('x-subject-token');
  if (res.status === 401 || res.status === 404) throw new Unauthorized('The user name, password, domain or project is wrong.');
  if (res.status !== 201 || !token || !parsed.token?.project?.id) {
    throw new ServiceUnavailable(`The identity service (Keystone) at ${keystoneUrl} refused the sign-in (HTTP ${res.status}).`);
  }
  const t = parsed.token;
  return {
    token,
    expiresAt: Date.parse(t.expires_at ?? '') || Date.now() + 3_600_000,
    user: { id: t.user?.id ?? '', name: t.user?.name ?? login.username },
    project: { id: t.project!.id!, name: t.project!.name ?? login.project },
    roles: (t.roles ?? []).map((r) => r.name ?? '').filter((r) => r !== ''),
  };
}

/** Revokes a token (its owner may); a failure is returned, not thrown: signing out goes on regardless. */
export async function revokeKeystoneToken(keystoneUrl: string, token: string): Promise<Error | null> {
  try {
    const res = await fetch(`${keystoneUrl}/v3/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': token, 'x-subject-token': token }, signal: AbortSignal.timeout(TIMEOUT_MS) });
    await res.body?.cancel();
    return res.status === 204 || res.status === 404 ? null : new Error(`Keystone answered ${res.status}`);
  } catch (err) {
    return err as Error;
  }
}
