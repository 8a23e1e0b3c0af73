import fs from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { WatchedFile } from '../config/watched-file.js';
import { GLANCE_DEFAULT_RULES } from './glance-defaults.js';
import { compileCheck, parseListRule, parseRule, PolicySyntaxError, type Check, type CompiledCheck, type Credentials, type Target } from './rule-language.js';

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
 * The rules of one policy version (the operator's overrides over the defaults), each compiled on
 * first use, its `rule:` references resolved once.
 */
class CompiledRules {
  private readonly compiled = new Map<string, CompiledCheck | null>();

  constructor(
    readonly overrides: Map<string, Check> | undefined,
    private readonly defaults: Map<string, Check>,
  ) {}

  /** The compiled rule, or undefined if neither the overrides nor the defaults have it. */
  get(name: string): CompiledCheck | undefined {
    let fn = this.compiled.get(name);
    if (fn === undefined) {
      const check = this.overrides?.get(name) ?? this.defaults.get(name);
      fn = check === undefined ? null : compileCheck(check, { rule: (ref) => this.get(ref) });
      this.compiled.set(name, fn);
    }
    return fn ?? undefined;
  }
}

/**
 * Decides policy rules by name: Glance's defaults, overridden by the operator's policy file,
 * which is re-read when it changes. A policy file that no longer parses is reported and the
 * rules in force are kept.
 */
export class PolicyEnforcer {
  private readonly defaults = new Map<string, Check>();
  private readonly overrides: WatchedFile<Map<string, Check>> | null = null;
  private rules: CompiledRules;

  constructor(file: string | null, log: (msg: string) => void = () => undefined, now: () => number = Date.now) {
    for (const [name, rule] of Object.entries(GLANCE_DEFAULT_RULES)) this.defaults.set(name, parseRule(rule, name));
    if (file) {
      if (!fs.existsSync(file)) throw new PolicyFileError(`policy file ${file} does not exist`);
      this.overrides = new WatchedFile(file, readPolicyFile, log, now);
    }
    this.rules = new CompiledRules(this.overrides?.current(), this.defaults);
  }

  /** True if `rule` allows `creds` to act on `target`. An unknown rule falls back to `default`. */
  enforce(rule: string, target: Target, creds: Credentials): boolean {
    const overrides = this.overrides?.current();
    // A new version of the policy file is a new map: compile its rules afresh.
    if (overrides !== this.rules.overrides) this.rules = new CompiledRules(overrides, this.defaults);
    const check = this.rules.get(rule) ?? this.rules.get('default');
    return check !== undefined && check(target, creds, 0);
  }
}
