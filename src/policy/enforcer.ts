import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { WatchedFile } from '../config/watched-file.js';
import { GLANCE_DEFAULT_RULES } from './glance-defaults.js';
import { evaluate, parseListRule, parseRule, PolicySyntaxError, type Check, type Credentials, type Target } from './rule-language.js';

export class PolicyFileError extends Error {}

/** Reads a policy.yaml / policy.json (JSON is YAML) into parsed checks by rule name. */
function readPolicyFile(file: string): Map<string, Check> {
  let doc: unknown;
  try {
    doc = parseYaml(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new PolicyFileError(`policy file ${file}: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return new Map();
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new PolicyFileError(`policy file ${file}: expected a mapping of rule name to check string`);
  const rules = new Map<string, Check>();
  for (const [name, value] of Object.entries(doc as Record<string, unknown>)) {
    try {
      if (typeof value === 'string') rules.set(name, parseRule(value, name));
      else if (Array.isArray(value)) rules.set(name, parseListRule(value, name));
      else throw new PolicySyntaxError(name, 0, 'a rule must be a check string');
    } catch (err) {
      throw new PolicyFileError(`policy file ${file}: ${(err as Error).message}`);
    }
  }
  return rules;
}

/**
 * Decides policy rules by name: Glance's defaults, overridden by the operator's policy file,
 * which is re-read when it changes. A policy file that no longer parses is reported and the
 * rules in force are kept.
 */
export class PolicyEnforcer {
  private readonly defaults = new Map<string, Check>();
  private readonly overrides: WatchedFile<Map<string, Check>> | null = null;

  constructor(file: string | null, log: (msg: string) => void = () => undefined, now: () => number = Date.now) {
    for (const [name, rule] of Object.entries(GLANCE_DEFAULT_RULES)) this.defaults.set(name, parseRule(rule, name));
    if (file) {
      if (!fs.existsSync(file)) throw new PolicyFileError(`policy file ${file} does not exist`);
      this.overrides = new WatchedFile(file, readPolicyFile, log, now);
    }
  }

  /** True if `rule` allows `creds` to act on `target`. An unknown rule falls back to `default`. */
  enforce(rule: string, target: Target, creds: Credentials): boolean {
    const overrides = this.overrides?.current();
    const lookup = (name: string) => overrides?.get(name) ?? this.defaults.get(name);
    const check = lookup(rule) ?? lookup('default');
    if (check === undefined) return false;
    return evaluate(check, target, creds, { rule: lookup });
  }
}
