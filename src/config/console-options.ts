/**
 * `[console]`: the web console served at /console/ (src/api/console/, web/). Spread into OPTIONS by
 * options.ts; `consoleSettings` turns the section into what the console's routes need.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ensureSecretFile } from './secret-file.js';
import type { OptionSpec } from './option-spec.js';
import type { AuthFlavor, Config } from './options.js';

export const CONSOLE_SECTION = {
  console: {
    enabled: { kind: 'bool', default: true, help: 'Ocellus: serve the web console at /console/ (false: /console is 404).' },
    secret_key: {
      kind: 'string',
      default: null,
      help: 'Ocellus: the secret that seals the console\'s session cookies (any long random string; the same on every node behind one address). Unset = a random one kept in <data dir>/console-secret (mode 0600), made on first start.',
    },
    session_max_age: { kind: 'int', default: 43200, min: 60, help: 'Ocellus: seconds a console sign-in lasts at most (a Keystone token\'s own expiry ends it sooner).' },
    keystone_url: {
      kind: 'string',
      default: null,
      help: 'Ocellus: the Keystone URL the console signs users in at (password + project, Keystone flavors); default [keystone_authtoken] www_authenticate_uri, else auth_url.',
    },
  },
} as const satisfies Record<string, Record<string, OptionSpec>>;

/** How people sign in to the console: as the API authenticates them. */
export type ConsoleStrategy = 'keystone' | 'token' | 'headers';

export interface ConsoleSettings {
  strategy: ConsoleStrategy;
  /** 32 bytes: the AES-256-GCM key of the session cookie. */
  key: Buffer;
  maxAgeSeconds: number;
  /** Keystone's base URL (without /v3), with the keystone strategy. */
  keystoneUrl: string | null;
}

/** The console's settings, or null when `[console] enabled = false`. */
export function consoleSettings(config: Config, flavor: AuthFlavor): ConsoleSettings | null {
  const c = config.console;
  if (!c.enabled) return null;
  const strategy: ConsoleStrategy = flavor === 'keystone' ? 'keystone' : flavor === 'noauth' ? 'headers' : 'token';
  const k = config.keystone_authtoken;
  const keystone = c.keystone_url ?? k.www_authenticate_uri ?? k.auth_url;
  return {
    strategy,
    key: createHash('sha256').update(c.secret_key ?? ensureSecretFile(consoleSecretPath(config.dataDir), 'console secret').secret).digest(),
    maxAgeSeconds: c.session_max_age,
    keystoneUrl: strategy === 'keystone' && keystone ? keystone.replace(/\/+$/, '').replace(/\/v3$/, '') : null,
  };
}

/** The console's cookie key when `[console] secret_key` is unset. */
export function consoleSecretPath(dataDir: string): string {
  return path.join(dataDir, 'console-secret');
}
