import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluate, formatFromTarget, parseListRule, parseRule, PolicySyntaxError, type Check, type Credentials, type Target } from '../src/policy/rule-language.js';

const rules: Record<string, string> = {
  context_is_admin: 'role:admin',
  admin_or_owner: 'rule:context_is_admin or project_id:%(project_id)s',
  loop: 'rule:loop',
};
const env = { rule: (name: string): Check | undefined => (name in rules ? parseRule(rules[name]!, name) : undefined) };
const allowed = (rule: string, target: Target, creds: Credentials) => evaluate(parseRule(rule, 'test'), target, creds, env);

const member = { roles: ['member', 'reader'], project_id: 'p1', user_id: 'u1' };
const admin = { roles: ['Admin'], project_id: 'p9', user_id: 'root' };

test('always and never', () => {
  assert.equal(allowed('', {}, {}), true);
  assert.equal(allowed('@', {}, {}), true);
  assert.equal(allowed('!', {}, member), false);
});

test('role checks are case-insensitive and may be formatted from the target', () => {
  assert.equal(allowed('role:MEMBER', {}, member), true);
  assert.equal(allowed('role:admin', {}, admin), true);
  assert.equal(allowed('role:admin', {}, member), false);
  assert.equal(allowed('role:%(needed)s', { needed: 'reader' }, member), true);
  assert.equal(allowed('role:%(missing)s', {}, member), false);
});

test('generic checks compare a credential with the formatted target value', () => {
  assert.equal(allowed('project_id:%(project_id)s', { project_id: 'p1' }, member), true);
  assert.equal(allowed('project_id:%(project_id)s', { project_id: 'p2' }, member), false);
  assert.equal(allowed('project_id:%(owner)s', { project_id: 'p1' }, member), false, 'missing target key → false');
  assert.equal(allowed('user_id:u1', {}, member), true);
  assert.equal(allowed('a.b.c:%(x)s', { x: 'deep' }, { a: { b: { c: 'deep' } } }), true);
  assert.equal(allowed('a.b:%(x)s', { x: 'two' }, { a: [{ b: 'one' }, { b: 'two' }] }), true, 'lists match any element');
  assert.equal(allowed('nope:%(x)s', { x: 'v' }, member), false);
});

test('literal generic checks compare the literal with the target', () => {
  assert.equal(allowed("'public':%(visibility)s", { visibility: 'public' }, member), true);
  assert.equal(allowed("'public':%(visibility)s", { visibility: 'private' }, member), false);
  assert.equal(allowed('True:%(is_admin_project)s', { is_admin_project: true }, member), true);
  assert.equal(allowed('42:%(n)s', { n: 42 }, member), true);
  assert.equal(allowed('"a b":%(s)s', { s: 'a b' }, member), true, 'quoted literals may contain spaces');
});

test('and binds tighter than or; not negates; parentheses group; keywords ignore case', () => {
  // A or B and C = A or (B and C)
  assert.equal(allowed('@ or ! and !', {}, {}), true);
  assert.equal(allowed('(@ or !) and !', {}, {}), false);
  assert.equal(allowed('not !', {}, {}), true);
  assert.equal(allowed('not @ or @', {}, {}), true);
  assert.equal(allowed('not (@ or @)', {}, {}), false);
  assert.equal(allowed('role:member AND NOT role:admin', {}, member), true);
  assert.equal(allowed('role:reader and (project_id:%(project_id)s or \'public\':%(visibility)s)', { project_id: 'px', visibility: 'public' }, member), true);
});

test('rule references resolve by name; unknown rules and cycles are false', () => {
  assert.equal(allowed('rule:admin_or_owner', { project_id: 'p1' }, member), true);
  assert.equal(allowed('rule:admin_or_owner', { project_id: 'p2' }, admin), true);
  assert.equal(allowed('rule:admin_or_owner', { project_id: 'p2' }, member), false);
  assert.equal(allowed('rule:no_such_rule', {}, admin), false);
  assert.equal(allowed('rule:loop', {}, admin), false);
});

test('http checks are false without an external checker', () => {
  assert.equal(allowed('http://policy.example/%(id)s', { id: 'x' }, member), false);
  const withHttp = { ...env, http: (url: string) => url === 'http://policy.example/x' };
  assert.equal(evaluate(parseRule('http://policy.example/%(id)s'), { id: 'x' }, member, withHttp), true);
});

test('legacy list syntax: outer or, inner and', () => {
  const check = parseListRule([['role:admin'], ['role:member', 'project_id:%(project_id)s']], 'legacy');
  assert.equal(evaluate(check, { project_id: 'p1' }, member, env), true);
  assert.equal(evaluate(check, { project_id: 'p2' }, member, env), false);
  assert.equal(evaluate(parseListRule([], 'empty'), {}, {}, env), true);
});

test('malformed rules are errors naming the rule and the position', () => {
  const bad = (rule: string, pattern: RegExp) =>
    assert.throws(() => parseRule(rule, 'my_rule'), (err: unknown) => err instanceof PolicySyntaxError && err.ruleName === 'my_rule' && pattern.test(err.message));
  bad('role:admin or', /unexpected end of rule at position 13/);
  bad('(role:admin', /missing '\)' at position 11/);
  bad('role:admin)', /unexpected '\)' at position 10/);
  bad('and role:admin', /unexpected 'and' at position 0/);
  bad('role:admin role:member', /unexpected 'role:member' at position 11/);
  bad('admin', /'admin' is not a check .* at position 0/);
  bad("'public:%(visibility)s", /unterminated quote at position 0/);
});

test('%-formatting renders Python values', () => {
  assert.equal(formatFromTarget('%(a)s/%(b)s/%(c)s', { a: null, b: true, c: 3 }), 'None/True/3');
  assert.equal(formatFromTarget('%(x)s', {}), undefined);
});
