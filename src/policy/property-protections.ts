/**
 * Glance's property protections (glance/common/property_utils.py): an INI file whose section
 * names are regular expressions over extra-property names, each giving who may create, read,
 * update and delete the matching properties. The first section (in file order) whose regex
 * matches the name — Python `re.search`, i.e. anywhere in the name — decides; no match denies.
 *
 * Two formats (`property_protection_rule_format`):
 * - `roles`: comma-separated role names, compared case-insensitively with the caller's roles.
 * - `policies`: one policy rule name; Glance registers `<section>:<op>` = `rule:<name>` in its
 *   enforcer and enforces that, so we hand `<name>` to a callback from the policy enforcer.
 * In both, `@` allows everyone, `!` nobody, and an empty value nobody.
 */
import fs from 'node:fs';

export type PropertyOperation = 'create' | 'read' | 'update' | 'delete';
export type PropertyRuleFormat = 'roles' | 'policies';

export interface PropertyCaller {
  roles: readonly string[];
  /** Roles of the X-Service-Token; Glance counts them too. */
  serviceRoles?: readonly string[];
}

/** A configuration error: Glance refuses to start on these, so should we. */
export class PropertyProtectionError extends Error {
  override name = 'PropertyProtectionError';
}

const OPERATIONS: readonly PropertyOperation[] = ['create', 'read', 'update', 'delete'];

interface Rule {
  section: string;
  pattern: RegExp;
  /** roles: lower-cased role names; policies: zero or one rule name. May contain `@` / `!`. */
  permissions: Record<PropertyOperation, readonly string[]>;
}

/**
 * `os_glance_*` properties are Glance's own bookkeeping (import tasks, stores being imported
 * to...). Glance puts an allow-all rule for them ahead of the operator's sections so that
 * protections never stop the service from managing them; users are kept away from that
 * namespace elsewhere (the API rejects it as reserved). Anchored, so `x_os_glance_foo` stays
 * under the operator's rules.
 */
const OS_GLANCE_RULE: Rule = {
  section: '^os_glance',
  pattern: /^os_glance/,
  permissions: { create: ['@'], read: ['@'], update: ['@'], delete: ['@'] },
};

export class PropertyProtections {
  constructor(
    readonly format: PropertyRuleFormat,
    private readonly rules: readonly Rule[],
  ) {}

  /**
   * Whether `caller` may perform `op` on the extra property `property`. In the `policies`
   * format `policy` evaluates a rule name (as `rule:<name>`: an undefined rule denies) for the
   * same caller; it is required even if this particular check would not need it, so a missing
   * wiring shows up at once rather than on the first protected property.
   */
  allowed(op: PropertyOperation, property: string, caller: PropertyCaller, policy?: (rule: string) => boolean): boolean {
    if (this.format === 'policies' && !policy) {
      throw new Error('property protections use the policies format: allowed() needs a policy callback');
    }
    if (!OPERATIONS.includes(op)) return false;
    const rule = this.rules.find((r) => r.pattern.test(property));
    if (!rule) return false;
    const permissions = rule.permissions[op];
    if (permissions.includes('!')) return false;
    if (permissions.includes('@')) return true;
    if (this.format === 'policies') return permissions.length > 0 && policy!(permissions[0]!);
    const roles = new Set([...caller.roles, ...(caller.serviceRoles ?? [])].map((r) => r.toLowerCase()));
    return permissions.some((p) => roles.has(p));
  }
}

/** Reads and validates `file` synchronously (at start-up); every problem is a PropertyProtectionError. */
export function loadPropertyProtections(file: string, format: PropertyRuleFormat): PropertyProtections {
  if (format !== 'roles' && format !== 'policies') {
    throw new PropertyProtectionError(`invalid property_protection_rule_format '${String(format)}': use 'roles' or 'policies'`);
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new PropertyProtectionError(`cannot read property protection file ${file}: ${(err as Error).message}`);
  }
  const { defaults, sections } = readSections(text, file);
  if (sections.length === 0) {
    throw new PropertyProtectionError(`${file}: no [section] defined; every property would be denied`);
  }
  const rules = sections.map((s) => compileSection(s, defaults, file, format));
  return new PropertyProtections(format, [OS_GLANCE_RULE, ...rules]);
}

interface RawOption { value: string; line: number }
interface RawSection { name: string; line: number; options: Map<string, RawOption> }

/**
 * A reader following Python's configparser as Glance uses it, rather than config/ini.ts: the
 * section name runs to the *last* `]` (so `[^x_[ab]]` is the regex `^x_[ab]`), sections without
 * options are kept (so they fail validation as in Glance), option names are case-insensitive,
 * `[DEFAULT]` supplies values to every section instead of being a rule, and duplicates are errors.
 */
function readSections(text: string, file: string): { defaults: RawSection | null; sections: RawSection[] } {
  const sections: RawSection[] = [];
  let defaults: RawSection | null = null;
  let current: RawSection | null = null;
  let last: RawOption | null = null;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '') {
      last = null;
      return;
    }
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) return;
    if (/^\s/.test(raw) && last) {
      last.value = `${last.value}\n${trimmed}`;
      return;
    }
    last = null;
    const header = /^\[(.+)\]$/.exec(trimmed);
    if (header) {
      const name = header[1]!;
      if (name === 'DEFAULT' ? defaults : sections.some((s) => s.name === name)) {
        throw new PropertyProtectionError(`${file}:${line}: section [${name}] appears twice`);
      }
      current = { name, line, options: new Map() };
      if (name === 'DEFAULT') defaults = current;
      else sections.push(current);
      return;
    }
    const option = /^(.*?)\s*[=:]\s*(.*)$/.exec(trimmed);
    if (!option || option[1] === '') throw new PropertyProtectionError(`${file}:${line}: cannot parse line '${trimmed}'`);
    if (!current) throw new PropertyProtectionError(`${file}:${line}: '${option[1]}' is outside any [section]`);
    const key = option[1]!.toLowerCase();
    if (current.options.has(key)) {
      throw new PropertyProtectionError(`${file}:${line}: '${key}' given twice in section [${current.name}]`);
    }
    last = { value: option[2]!, line };
    current.options.set(key, last);
  });
  return { defaults, sections };
}

function compileSection(section: RawSection, defaults: RawSection | null, file: string, format: PropertyRuleFormat): Rule {
  const where = `${file}:${section.line}: section [${section.name}]`;
  for (const [key, { line }] of [...(defaults?.options ?? []), ...section.options]) {
    // Glance only looks up the four operations; anything else is most likely a typo.
    if (!(OPERATIONS as readonly string[]).includes(key)) {
      throw new PropertyProtectionError(`${file}:${line}: unknown key '${key}' (expected create, read, update, delete)`);
    }
  }
  let pattern: RegExp;
  try {
    pattern = pythonRegExp(section.name);
  } catch (err) {
    throw new PropertyProtectionError(`${where}: invalid regular expression: ${(err as Error).message}`);
  }
  const permissions = {} as Record<PropertyOperation, readonly string[]>;
  for (const op of OPERATIONS) {
    const option = section.options.get(op) ?? defaults?.options.get(op);
    if (!option) throw new PropertyProtectionError(`${where}: missing '${op}'`);
    const value = option.value.trim();
    // configparser would interpolate %(name)s here (or choke on a lone %); neither is meant.
    if (value.includes('%')) throw new PropertyProtectionError(`${file}:${option.line}: '%' is not allowed in '${op} = ${value}'`);
    if (format === 'policies') {
      if (value.includes(',')) {
        throw new PropertyProtectionError(
          `${file}:${option.line}: [${section.name}] ${op}: only one policy per operation ('${value}'); combine them in the policy file`,
        );
      }
      permissions[op] = value === '' ? [] : [value];
    } else {
      const roles = value.split(',').map((r) => r.trim().toLowerCase()).filter((r) => r !== '');
      if (roles.includes('@') && roles.includes('!')) {
        throw new PropertyProtectionError(`${file}:${option.line}: [${section.name}] ${op} = ${value}: '@' and '!' are mutually exclusive`);
      }
      permissions[op] = roles;
    }
  }
  return { section: section.name, pattern, permissions };
}

/** Escapes Python's `re` knows; any other backslash-letter is an error there ("bad escape"). */
const PY_LETTER_ESCAPES = 'AbBdDsSwWZafnrtvxu';

/**
 * Compiles a Python `re` pattern as a JS RegExp with the same meaning for `search`. Translates
 * what the two spell differently (`(?P<n>…)`, `(?P=n)`, `\A`, `\Z`, `\a`, leading `(?i)`-style
 * flags, `]` first in a class) and rejects what JS would silently read another way (unknown
 * letter escapes, `(?<name>`); whatever JS cannot express (e.g. `(?i:…)`) fails to compile.
 */
function pythonRegExp(source: string): RegExp {
  let flags = '';
  let i = 0;
  // Python takes global flags only at the start; JS has no inline flags, so lift them out.
  for (let m: RegExpExecArray | null; (m = /^\(\?([a-zA-Z]+)\)/.exec(source.slice(i))); i += m[0].length) {
    for (const f of m[1]!) {
      if ('ims'.includes(f)) flags += flags.includes(f) ? '' : f;
      else if (f !== 'a' && f !== 'u') throw new Error(`unsupported inline flag '${f}'`);
    }
  }
  let out = '';
  let inClass = false;
  for (; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      const n = source[++i];
      if (n === undefined) throw new Error('bad escape (end of pattern)');
      if (/[a-zA-Z]/.test(n) && (!PY_LETTER_ESCAPES.includes(n) || (inClass && 'ABZ'.includes(n)))) {
        throw new Error(`bad escape \\${n}`);
      }
      out += n === 'A' ? '(?<![\\s\\S])' : n === 'Z' ? '(?![\\s\\S])' : n === 'a' ? '\\x07' : `\\${n}`;
    } else if (inClass) {
      out += c;
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
      out += c;
      if (source[i + 1] === '^') out += source[++i];
      if (source[i + 1] === ']') {
        out += '\\]'; // Python: a leading ] is literal; JS: [] would be an empty class
        i++;
      }
    } else if (source.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
    } else if (source.startsWith('(?P=', i)) {
      const end = source.indexOf(')', i);
      if (end < 0) throw new Error('missing ), unterminated name');
      out += `\\k<${source.slice(i + 4, end)}>`;
      i = end;
    } else if (source.startsWith('(?<', i) && !'=!'.includes(source[i + 3] ?? '')) {
      throw new Error(`unknown extension ?<${source[i + 3] ?? ''}`);
    } else {
      out += c;
    }
  }
  return new RegExp(out, flags);
}
