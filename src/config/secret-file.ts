/**
 * A secret kept in a file of the data dir (the default flavor's admin token, the console's cookie
 * key): created on first start, read on every later one.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export class SecretFileError extends Error {}

/** Printable ASCII without spaces, at least 32 characters: what Ocellus writes (64 hex) or an operator's own. */
const SECRET = /^[\x21-\x7e]{32,}$/;

/**
 * Reads the secret, creating it on first start: 32 random bytes as hex, written to a private
 * temporary file (`wx`, mode 0600) that is then hard-linked into place, so concurrent starts (or
 * workers) never see a half-written file and all agree on the first one linked. A file that is
 * not a regular file, belongs to another user, is open to group or others, or does not hold a
 * secret is refused: the server does not start on a secret it cannot trust. `what` names it in errors.
 */
export function ensureSecretFile(file: string, what: string): { secret: string; created: boolean } {
  let created = false;
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(tmp, file);
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new SecretFileError(`${what} file ${file}: cannot create it: ${(err as Error).message}`);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  return { secret: readSecret(file, what), created };
}

function readSecret(file: string, what: string): string {
  const st = fs.lstatSync(file);
  if (!st.isFile()) throw new SecretFileError(`${what} file ${file} is not a regular file; remove it and start again to get a new one`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new SecretFileError(`${what} file ${file} belongs to uid ${st.uid}, not to this user (${process.getuid()})`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new SecretFileError(`${what} file ${file} is open to other users (mode 0${(st.mode & 0o777).toString(8)}); run chmod 600 ${file}, or remove it to get a new one`);
  }
  const secret = fs.readFileSync(file, 'utf8').trim();
  if (!SECRET.test(secret)) {
    throw new SecretFileError(`${what} file ${file} does not hold a secret (one line of at least 32 printable characters); remove it to get a new one`);
  }
  return secret;
}
