/** The client commands' errors (usage: exit 2; a failed request: exit 1), the options every command shares, and option parsing helpers. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line the client cannot run: wrong option, missing argument (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A request that cannot be done, found by the client itself (e.g. no image of that name): exit 1. */
export class CommandError extends Error {
  override name = 'CommandError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * -f/--format, -c/--column, --os-cloud, the TLS options of `openstack` (--os-cacert, --insecure,
 * --verify, --os-cert, --os-key) and -h: accepted by every client command.
 */
export const COMMON_OPTIONS = {
  format: { type: 'string', short: 'f' },
  column: { type: 'string', short: 'c', multiple: true },
  'os-cloud': { type: 'string' },
  'os-cacert': { type: 'string' },
  insecure: { type: 'boolean' },
  verify: { type: 'boolean' },
  'os-cert': { type: 'string' },
  'os-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

/** The help text's lines for COMMON_OPTIONS (each command's usage ends with them). */
export const COMMON_OPTIONS_HELP = `Common options: -f table|json|value, -c COLUMN (repeatable), --os-cloud NAME, -h;
TLS, as openstack's: --os-cacert FILE, --insecure|--verify, --os-cert FILE, --os-key FILE.`;

/** parseArgs, strict, with the common options; its errors become UsageErrors. */
export function parse<O extends Options>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** The positional arguments, exactly `names` of them (for the message). */
export function positionals(given: string[], names: string[], atLeast = names.length): string[] {
  if (given.length < atLeast || given.length > names.length) {
    throw new UsageError(`expected ${names.map((n) => n.toUpperCase()).join(' ')}${given.length > 0 ? `, got: ${given.join(' ')}` : ''}`);
  }
  return given;
}

/** An integer option value (e.g. --min-disk). */
export function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name}: expected a whole number, not '${value}'`);
  return Number(value);
}

/** `--property k=v` values as an object. */
export function properties(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of values ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--property: expected KEY=VALUE, not '${kv}'`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}
