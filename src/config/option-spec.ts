/** How one configuration option is declared and how its INI text becomes a typed value. */
export type Kind = 'string' | 'int' | 'bool' | 'list' | 'size' | 'multi' | 'dict';
export interface OptionSpec {
  /**
   * `list` = comma-separated; `multi` = repeated lines (oslo.config's MultiStrOpt), kept in order;
   * `dict` = oslo.config's DictOpt, `key:value,key2:value2`.
   */
  kind: Kind;
  default: string | number | boolean | readonly string[] | Readonly<Record<string, string>> | null;
  min?: number;
  max?: number;
  /** For a `list`: the values its items may take. */
  choices?: readonly string[];
  /** A `list` that may be written as oslo.config's bounded list, `['a', 'b']` (brackets and quoted items). */
  bounds?: boolean;
  help: string;
}

export type ValueOf<S extends OptionSpec> = S['kind'] extends 'int' | 'size'
  ? number
  : S['kind'] extends 'bool'
    ? boolean
    : S['kind'] extends 'list' | 'multi'
      ? string[]
      : S['kind'] extends 'dict'
        ? Record<string, string>
        : S['default'] extends null
        ? string | null
        : string;

export class ConfigError extends Error {}

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** The typed value of `raw`; ConfigError naming `where` when it is not valid. */
export function convertOption(spec: OptionSpec, raw: string, where: string): unknown {
  const value = raw.trim();
  switch (spec.kind) {
    case 'string':
      if (spec.choices && !spec.choices.includes(value)) throw new ConfigError(`${where}: '${value}' is not one of ${spec.choices.map((c) => `'${c}'`).join(', ')}`);
      return value;
    case 'bool': {
      const v = value.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(v)) return true;
      if (['false', '0', 'no', 'off'].includes(v)) return false;
      throw new ConfigError(`${where}: '${value}' is not a boolean (true/false)`);
    }
    case 'list': {
      const inner = spec.bounds && value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
      const items = inner.split(',').map((s) => s.trim()).filter((s) => s !== '');
      const list = spec.bounds ? items.map((s) => (/^(['"]).*\1$/s.test(s) && s.length >= 2 ? s.slice(1, -1) : s)) : items;
      const unknown = spec.choices ? list.filter((s) => !spec.choices!.includes(s)) : [];
      if (unknown.length > 0) throw new ConfigError(`${where}: ${unknown.map((u) => `'${u}'`).join(', ')} not one of ${spec.choices!.map((c) => `'${c}'`).join(', ')}`);
      return list;
    }
    case 'dict': {
      // oslo.config's Dict type: comma-separated `key:value` pairs, split at the first colon.
      const dict: Record<string, string> = {};
      for (const pair of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
        const colon = pair.indexOf(':');
        if (colon < 0) throw new ConfigError(`${where}: '${pair}' is not a key:value pair`);
        const key = pair.slice(0, colon).trim();
        if (key === '') throw new ConfigError(`${where}: '${pair}' has an empty key`);
        dict[key] = pair.slice(colon + 1).trim();
      }
      return dict;
    }
    case 'multi':
      return value.split('\n').map((s) => s.trim()).filter((s) => s !== '');
    case 'int':
    case 'size': {
      const m = spec.kind === 'size' ? /^(-?\d+)\s*(B|KB|MB|GB|TB)?$/i.exec(value) : /^(-?\d+)()$/.exec(value);
      if (!m) throw new ConfigError(`${where}: '${value}' is not ${spec.kind === 'size' ? 'a size (e.g. 1048576 or 10GB)' : 'an integer'}`);
      const n = Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toUpperCase()] ?? 1);
      if (!Number.isSafeInteger(n)) throw new ConfigError(`${where}: '${value}' is too large`);
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(`${where}: ${n} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(`${where}: ${n} is above the maximum ${spec.max}`);
      return n;
    }
  }
}
