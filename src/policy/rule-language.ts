/**
 * The oslo.policy rule language: a parser into a check tree and its evaluator.
 *
 *   ""  @          always true            !                 always false
 *   role:admin     the caller has the role (case-insensitive)
 *   rule:name      another named rule (unknown → false)
 *   project_id:%(project_id)s    a credential (dotted path) equals the %-formatted target value
 *   'public':%(visibility)s      a literal (quoted string, number, True/False) equals it
 *   http:… https:…  an external check (a POST that must answer "True")
 *   not X, X and Y, X or Y, ( … )   `and` binds tighter than `or`; keywords case-insensitive
 *
 * A malformed rule is a PolicySyntaxError naming the rule and the position; oslo.policy would
 * quietly make it always-false, Ocellus tells the operator.
 */

export type Check =
  | { kind: 'true' }
  | { kind: 'false' }
  | { kind: 'not'; check: Check }
  | { kind: 'and'; checks: Check[] }
  | { kind: 'or'; checks: Check[] }
  | { kind: 'rule'; name: string }
  | { kind: 'role'; match: string }
  | { kind: 'http'; url: string }
  | { kind: 'generic'; left: string; match: string };

export class PolicySyntaxError extends Error {
  constructor(
    readonly ruleName: string,
    readonly position: number,
    detail: string,
  ) {
    super(`policy rule '${ruleName}': ${detail} at position ${position}`);
    this.name = 'PolicySyntaxError';
  }
}

interface Token {
  type: '(' | ')' | 'and' | 'or' | 'not' | 'check';
  text: string;
  pos: number;
}

/**
 * oslo.policy's tokenizer: split on whitespace (quotes keep spaces), then peel leading `(` and
 * trailing `)` off each piece — so `%(project_id)s` keeps its own parentheses.
 */
function tokenize(rule: string, name: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < rule.length) {
    if (/\s/.test(rule[i]!)) {
      i++;
      continue;
    }
    const start = i;
    let quote: string | null = null;
    while (i < rule.length && (quote !== null || !/\s/.test(rule[i]!))) {
      const c = rule[i]!;
      if (quote !== null) {
        if (c === quote) quote = null;
      } else if (c === "'" || c === '"') {
        quote = c;
      }
      i++;
    }
    if (quote !== null) throw new PolicySyntaxError(name, start, 'unterminated quote');
    let piece = rule.slice(start, i);
    let at = start;
    while (piece.startsWith('(')) {
      tokens.push({ type: '(', text: '(', pos: at });
      piece = piece.slice(1);
      at++;
    }
    let trailing = 0;
    while (piece.endsWith(')') && !/%\([^)]*\)$/.test(piece)) {
      piece = piece.slice(0, -1);
      trailing++;
    }
    if (piece !== '') {
      const lower = piece.toLowerCase();
      if (lower === 'and' || lower === 'or' || lower === 'not') tokens.push({ type: lower, text: piece, pos: at });
      else tokens.push({ type: 'check', text: piece, pos: at });
    }
    for (let k = 0; k < trailing; k++) tokens.push({ type: ')', text: ')', pos: at + piece.length + k });
  }
  return tokens;
}

function parseCheck(token: Token, name: string): Check {
  const text = token.text;
  if (text === '@') return { kind: 'true' };
  if (text === '!') return { kind: 'false' };
  const colon = text.indexOf(':');
  if (colon <= 0) throw new PolicySyntaxError(name, token.pos, `'${text}' is not a check (expected kind:value, @ or !)`);
  const kind = text.slice(0, colon);
  const match = text.slice(colon + 1);
  if (kind === 'rule') return { kind: 'rule', name: match };
  if (kind === 'role') return { kind: 'role', match };
  if (kind === 'http' || kind === 'https') return { kind: 'http', url: text };
  return { kind: 'generic', left: kind, match };
}

/** Recursive descent: or := and ('or' and)* ; and := unary ('and' unary)* ; unary := 'not' unary | atom. */
export function parseRule(rule: string, name = '(inline)'): Check {
  const tokens = tokenize(rule, name);
  if (tokens.length === 0) return { kind: 'true' };
  let at = 0;
  const peek = () => tokens[at];
  const fail = (detail: string): never => {
    throw new PolicySyntaxError(name, peek()?.pos ?? rule.length, detail);
  };

  const parseOr = (): Check => {
    const checks = [parseAnd()];
    while (peek()?.type === 'or') {
      at++;
      checks.push(parseAnd());
    }
    return checks.length === 1 ? checks[0]! : { kind: 'or', checks };
  };
  const parseAnd = (): Check => {
    const checks = [parseUnary()];
    while (peek()?.type === 'and') {
      at++;
      checks.push(parseUnary());
    }
    return checks.length === 1 ? checks[0]! : { kind: 'and', checks };
  };
  const parseUnary = (): Check => {
    const t = peek();
    if (!t) return fail('unexpected end of rule');
    if (t.type === 'not') {
      at++;
      return { kind: 'not', check: parseUnary() };
    }
    if (t.type === '(') {
      at++;
      const inner = parseOr();
      if (peek()?.type !== ')') fail("missing ')'");
      at++;
      return inner;
    }
    if (t.type === 'check') {
      at++;
      return parseCheck(t, name);
    }
    return fail(`unexpected '${t.text}'`);
  };

  const check = parseOr();
  if (at < tokens.length) fail(`unexpected '${tokens[at]!.text}'`);
  return check;
}

/** The legacy list syntax: outer list = or, inner lists = and of check strings. */
export function parseListRule(rule: unknown, name: string): Check {
  if (!Array.isArray(rule)) throw new PolicySyntaxError(name, 0, 'a list rule must be a list of lists');
  if (rule.length === 0) return { kind: 'true' };
  return {
    kind: 'or',
    checks: rule.map((inner: unknown) => {
      const items = Array.isArray(inner) ? inner : [inner];
      return { kind: 'and', checks: items.map((s) => parseRule(String(s), name)) };
    }),
  };
}

export type Credentials = Record<string, unknown> & { roles?: readonly string[] };
export type Target = Record<string, unknown>;

/** Python's str() of a value, as %-formatting and oslo.policy's comparisons use it. */
export function pyStr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (Array.isArray(v)) return `[${v.map((x) => (typeof x === 'string' ? `'${x}'` : pyStr(x))).join(', ')}]`;
  return String(v);
}

/** `%(key)s` substitution from the target; undefined when a key is missing (the check is then false). */
export function formatFromTarget(template: string, target: Target): string | undefined {
  let missing = false;
  const out = template.replace(/%\((\w[\w.-]*)\)s/g, (_m, key: string) => {
    if (!(key in target)) {
      missing = true;
      return '';
    }
    return pyStr(target[key]);
  });
  return missing ? undefined : out.replace(/%%/g, '%');
}

/** A Python literal on the left of a generic check ('public', 42, True), or undefined. */
function literal(left: string): string | undefined {
  const q = /^(['"])(.*)\1$/s.exec(left);
  if (q) return q[2];
  if (/^-?\d+(\.\d+)?$/.test(left)) return left;
  if (left === 'True' || left === 'False' || left === 'None') return left;
  return undefined;
}

function findInCreds(creds: unknown, path: string[], match: string): boolean {
  if (path.length === 0) {
    if (Array.isArray(creds)) return creds.some((v) => pyStr(v) === match);
    return pyStr(creds) === match;
  }
  if (Array.isArray(creds)) return creds.some((item) => findInCreds(item, path, match));
  if (creds === null || typeof creds !== 'object') return false;
  const [head, ...rest] = path;
  if (!(head! in (creds as Record<string, unknown>))) return false;
  return findInCreds((creds as Record<string, unknown>)[head!], rest, match);
}

export interface EvalEnv {
  /** Resolves `rule:name`; undefined for an unknown rule (→ false). */
  rule(name: string): Check | undefined;
  /** External http(s) checks; without one they are false. */
  http?(url: string, target: Target, creds: Credentials): boolean;
}

export function evaluate(check: Check, target: Target, creds: Credentials, env: EvalEnv, depth = 0): boolean {
  if (depth > 50) return false; // a rule that refers to itself
  switch (check.kind) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'not':
      return !evaluate(check.check, target, creds, env, depth);
    case 'and':
      return check.checks.every((c) => evaluate(c, target, creds, env, depth));
    case 'or':
      return check.checks.some((c) => evaluate(c, target, creds, env, depth));
    case 'rule': {
      const rule = env.rule(check.name);
      return rule !== undefined && evaluate(rule, target, creds, env, depth + 1);
    }
    case 'role': {
      const role = formatFromTarget(check.match, target);
      if (role === undefined) return false;
      return (creds.roles ?? []).some((r) => r.toLowerCase() === role.toLowerCase());
    }
    case 'http': {
      const url = formatFromTarget(check.url, target);
      return url !== undefined && env.http !== undefined && env.http(url, target, creds);
    }
    case 'generic': {
      const match = formatFromTarget(check.match, target);
      if (match === undefined) return false;
      const lit = literal(check.left);
      if (lit !== undefined) return lit === match;
      return findInCreds(creds, check.left.split('.'), match);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Compiled rules: the same semantics as `evaluate`, with the work that depends only on the rule
// (template parsing, literals, lower-cased roles, credential paths) done once.

/** A rule compiled to a function; `depth` counts `rule:` references followed (as in evaluate). */
export type CompiledCheck = (target: Target, creds: Credentials, depth: number) => boolean;

export interface CompileEnv {
  /** The compiled rule of that name, or undefined for an unknown rule (→ false). Called at most once per reference. */
  rule(name: string): CompiledCheck | undefined;
  http?(url: string, target: Target, creds: Credentials): boolean;
}

const TEMPLATE_KEY = /%\((\w[\w.-]*)\)s/g;

/** formatFromTarget with the template parsed once. */
export function compileTemplate(template: string): (target: Target) => string | undefined {
  const keys: string[] = [];
  const texts: string[] = [];
  let last = 0;
  for (const m of template.matchAll(TEMPLATE_KEY)) {
    texts.push(template.slice(last, m.index));
    keys.push(m[1]!);
    last = m.index! + m[0].length;
  }
  texts.push(template.slice(last));
  const unescape = (s: string) => (s.includes('%%') ? s.replace(/%%/g, '%') : s);
  if (keys.length === 0) {
    const constant = unescape(template);
    return () => constant;
  }
  if (keys.length === 1 && texts[0] === '' && texts[1] === '') {
    const key = keys[0]!;
    return (target) => (key in target ? unescape(pyStr(target[key])) : undefined);
  }
  return (target) => {
    let out = texts[0]!;
    for (let i = 0; i < keys.length; i++) {
      if (!(keys[i]! in target)) return undefined;
      out += pyStr(target[keys[i]!]) + texts[i + 1]!;
    }
    return unescape(out);
  };
}

const ALWAYS: CompiledCheck = () => true;
const NEVER: CompiledCheck = () => false;

export function compileCheck(check: Check, env: CompileEnv): CompiledCheck {
  switch (check.kind) {
    case 'true':
      return ALWAYS;
    case 'false':
      return NEVER;
    case 'not': {
      const inner = compileCheck(check.check, env);
      return (t, c, d) => !inner(t, c, d);
    }
    case 'and': {
      const checks = check.checks.map((x) => compileCheck(x, env));
      return (t, c, d) => {
        for (const f of checks) if (!f(t, c, d)) return false;
        return true;
      };
    }
    case 'or': {
      const checks = check.checks.map((x) => compileCheck(x, env));
      return (t, c, d) => {
        for (const f of checks) if (f(t, c, d)) return true;
        return false;
      };
    }
    case 'rule': {
      // Resolved on first use, not here: a rule may refer to itself, or to one compiled later.
      const name = check.name;
      let resolved: CompiledCheck | null | undefined;
      return (t, c, d) => {
        if (resolved === undefined) resolved = env.rule(name) ?? null;
        return resolved !== null && d + 1 <= 50 && resolved(t, c, d + 1);
      };
    }
    case 'role': {
      const format = compileTemplate(check.match);
      const matches = (role: string) => (c: Credentials) => (c.roles ?? []).some((r) => r.toLowerCase() === role);
      if (!check.match.includes('%(')) {
        const role = format({});
        if (role === undefined) return NEVER;
        const has = matches(role.toLowerCase());
        return (_t, c) => has(c);
      }
      return (t, c) => {
        const role = format(t);
        return role !== undefined && matches(role.toLowerCase())(c);
      };
    }
    case 'http': {
      const format = compileTemplate(check.url);
      const http = env.http;
      if (http === undefined) return NEVER;
      return (t, c) => {
        const url = format(t);
        return url !== undefined && http(url, t, c);
      };
    }
    case 'generic': {
      const format = compileTemplate(check.match);
      const lit = literal(check.left);
      if (lit !== undefined) {
        return (t) => format(t) === lit;
      }
      const path = check.left.split('.');
      return (t, c) => {
        const match = format(t);
        return match !== undefined && findInCreds(c, path, match);
      };
    }
  }
}
