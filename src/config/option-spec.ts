/** How one configuration option is declared and how its INI text becomes a typed value. */
export type Kind = 'string' | 'int' | 'bool' | 'list' | 'size' | 'multi';
export interface OptionSpec {
  /** `list` = comma-separated; `multi` = repeated lines (oslo.config's MultiStrOpt), kept in order. */
  kind: Kind;
  default: string | number | boolean | readonly string[] | null;
  min?: number;
  max?: number;
  choices?: readonly string[];
  help: string;
}

export type ValueOf<S extends OptionSpec> = S['kind'] extends 'int' | 'size'
  ? number
  : S['kind'] extends 'bool'
    ? boolean
    : S['kind'] extends 'list' | 'multi'
      ? string[]
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
    case 'list':
      return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
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
