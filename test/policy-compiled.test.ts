import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GLANCE_DEFAULT_RULES } from '../src/policy/glance-defaults.js';
import { compileCheck, compileTemplate, evaluate, formatFromTarget, parseRule, type Check, type CompiledCheck, type Credentials, type Target } from '../src/policy/rule-language.js';

/**
 * Compiled rules decide exactly as `evaluate` walks the tree: every rule below, on every target
 * and every set of credentials, both ways.
 */

const named: Record<string, string> = {
  ...GLANCE_DEFAULT_RULES,
  admin_or_owner: 'rule:context_is_admin or project_id:%(project_id)s',
  loop: 'rule:loop',
  ping: 'rule:pong',
  pong: 'rule:ping or role:never',
  deep: 'rule:deep and @',
};
const parsed = new Map(Object.entries(named).map(([n, r]) => [n, parseRule(r, n)]));
const compiled = new Map<string, CompiledCheck>();
const http = (url: string) => url === 'http://policy.example/x';
const compiledRule = (name: string): CompiledCheck | undefined => {
  const check = parsed.get(name);
  if (check === undefined) return undefined;
  let fn = compiled.get(name);
  if (!fn) {
    fn = compileCheck(check, { rule: compiledRule, http });
    compiled.set(name, fn);
  }
  return fn;
};
const treeEnv = { rule: (name: string): Check | undefined => parsed.get(name), http };

const inline = [
  '', '@', '!', 'role:MEMBER', 'role:admin', 'role:%(needed)s', 'role:%(missing)s', 'project_id:%(project_id)s',
  'project_id:%(owner)s', 'user_id:u1', 'a.b.c:%(x)s', 'a.b:%(x)s', "'public':%(visibility)s", 'True:%(is_admin_project)s',
  '42:%(n)s', '"a b":%(s)s', '@ or ! and !', '(@ or !) and !', 'not !', 'not @ or @', 'not (@ or @)',
  'role:member AND NOT role:admin', "role:reader and (project_id:%(project_id)s or 'public':%(visibility)s)",
  'rule:admin_or_owner', 'rule:no_such_rule', 'rule:loop', 'rule:ping', 'rule:deep', 'http://policy.example/%(id)s',
  'user_id:%(a)s-%(b)s', 'user_id:100%%', 'user_id:%(pct)s', 'user_id:%%(x)s', 'user_id:x%(x)s%%y',
  ...Object.keys(named).map((n) => `rule:${n}`),
];
const targets: Target[] = [
  {}, { project_id: 'p1', visibility: 'public', needed: 'reader', n: 42, s: 'a b', x: 'deep', id: 'x', is_admin_project: true },
  { project_id: 'p2', visibility: 'private', member_id: 'p1', owner: 'p1', x: 'two', a: 'u', b: '1', pct: '100%%', id: 'y' },
  { project_id: null, visibility: 'community', member_id: null, owner: null, x: ['deep'], n: 'None' },
  new Proxy({ project_id: 'p1', visibility: 'shared' } as Record<string, unknown>, { has: () => true, get: (o, k) => (typeof k === 'string' ? (o[k] ?? null) : undefined) }),
];
const creds: Credentials[] = [
  {}, { roles: ['member', 'reader'], project_id: 'p1', user_id: 'u1' }, { roles: ['Admin'], project_id: 'p9', user_id: 'root' },
  { roles: ['reader'], project_id: 'p2', user_id: 'u-1', a: { b: { c: 'deep' } } }, { roles: [], a: [{ b: 'one' }, { b: 'two' }], user_id: '100%' },
  { roles: ['service'], project_id: null, user_id: 'xdeep' },
];

test('a compiled rule decides as the evaluated tree, for every rule, target and credentials', () => {
  let cases = 0;
  for (const rule of inline) {
    const check = parseRule(rule, 'test');
    const fn = compileCheck(check, { rule: compiledRule, http });
    const noHttp = compileCheck(check, { rule: compiledRule });
    for (const target of targets) {
      for (const c of creds) {
        assert.equal(fn(target, c, 0), evaluate(check, target, c, treeEnv), `${rule} on ${JSON.stringify(target)} as ${JSON.stringify(c)}`);
        assert.equal(noHttp(target, c, 0), evaluate(check, target, c, { rule: treeEnv.rule }), `${rule} without http checks`);
        cases++;
      }
    }
  }
  assert.ok(cases > 1000);
});

test('a compiled template formats as formatFromTarget', () => {
  const templates = ['', 'plain', '%(a)s', '%(a)s-%(b)s', 'x%(a)sy', '100%%', '%%(a)s', '%(a)s%%', '%(missing)s', 'a%(a)s%(missing)s', '%(a.b)s'];
  const ts: Target[] = [{}, { a: 'A', b: 2 }, { a: '50%%', b: null, 'a.b': true }, { a: ['x', 1] }];
  for (const template of templates) for (const t of ts) assert.equal(compileTemplate(template)(t), formatFromTarget(template, t), `${template} on ${JSON.stringify(t)}`);
});
