import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  loadPropertyProtections,
  PropertyProtectionError,
  type PropertyOperation,
  type PropertyProtections,
} from '../src/policy/property-protections.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocellus-pp-'));
let counter = 0;
function writeFile(text: string, name = `pp-${++counter}.conf`): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}
const roles = (text: string) => loadPropertyProtections(writeFile(text), 'roles');
const policies = (text: string) => loadPropertyProtections(writeFile(text), 'policies');
const OPS: PropertyOperation[] = ['create', 'read', 'update', 'delete'];
const crud = (spec: string) => OPS.map((op) => `${op} = ${spec}`).join('\n');

// Glance's etc/property-protections-roles.conf.sample.
const ROLES_SAMPLE = `# property-protections-roles.conf.sample
#
# This file is an example config file for when
# property_protection_rule_format=roles is enabled.
#
# NOTE: Multiple roles can be specified for a given operation. These roles must
# be comma separated.

[^x_.*]
create = admin,member,_member_
read = admin,member,_member_
update = admin,member,_member_
delete = admin,member,_member_

[.*]
create = admin
read = admin
update = admin
delete = admin
`;

// Glance's etc/property-protections-policies.conf.sample.
const POLICIES_SAMPLE = `# property-protections-policies.conf.sample
#
# NOTE: Only one policy can be specified per action. If multiple policies are
# specified, then the glance-api service fails to start.

[^x_.*]
create = default
read = default
update = default
delete = default

[.*]
create = context_is_admin
read = context_is_admin
update = context_is_admin
delete = context_is_admin
`;

// The roles file of Glance's functional tests (glance/tests/functional/__init__.py).
const ROLES_FIXTURE = `
[^x_owner_.*]
create = admin,member
read = admin,member
update = admin,member
delete = admin,member

[spl_create_prop]
create = admin,spl_role
read = admin,spl_role
update = admin
delete = admin

[spl_read_prop]
create = admin,spl_role
read = admin,spl_role
update = admin
delete = admin

[spl_read_only_prop]
create = admin
read = admin,spl_role
update = admin
delete = admin

[spl_update_prop]
create = admin,spl_role
read = admin,spl_role
update = admin,spl_role
delete = admin

[spl_update_only_prop]
create = admin
read = admin
update = admin,spl_role
delete = admin

[spl_delete_prop]
create = admin,spl_role
read = admin,spl_role
update = admin
delete = admin,spl_role

[spl_delete_empty_prop]
create = admin,spl_role
read = admin,spl_role
update = admin
delete = admin,spl_role

[^x_all_permitted.*]
create = @
read = @
update = @
delete = @

[^x_none_permitted.*]
create = !
read = !
update = !
delete = !

[x_none_read]
create = admin,member
read = !
update = !
delete = !

[x_none_update]
create = admin,member
read = admin,member
update = !
delete = admin,member

[x_none_delete]
create = admin,member
read = admin,member
update = admin,member
delete = !

[x_case_insensitive]
create = admin,Member
read = admin,Member
update = admin,Member
delete = admin,Member

[x_foo_matcher]
create = admin
read = admin
update = admin
delete = admin

[x_foo_*]
create = @
read = @
update = @
delete = @

[.*]
create = admin
read = admin
update = admin
delete = admin
`;

// The policies file of the same functional tests.
const POLICIES_FIXTURE = `
[spl_creator_policy]
create = glance_creator
read = glance_creator
update = context_is_admin
delete = context_is_admin

[spl_default_policy]
create = context_is_admin
read = default
update = context_is_admin
delete = context_is_admin

[^x_all_permitted.*]
create = @
read = @
update = @
delete = @

[^x_none_permitted.*]
create = !
read = !
update = !
delete = !

[x_none_read]
create = context_is_admin
read = !
update = !
delete = !

[x_none_update]
create = context_is_admin
read = context_is_admin
update = !
delete = context_is_admin

[x_none_delete]
create = context_is_admin
read = context_is_admin
update = context_is_admin
delete = !

[x_foo_matcher]
create = context_is_admin
read = context_is_admin
update = context_is_admin
delete = context_is_admin

[x_foo_*]
create = @
read = @
update = @
delete = @

[.*]
create = context_is_admin
read = context_is_admin
update = context_is_admin
delete = context_is_admin
`;

/** The operations `roles` may perform on `property`, e.g. 'CRUD' or 'C-R-'. */
function ops(pp: PropertyProtections, property: string, callerRoles: string[], serviceRoles?: string[]): string {
  return OPS.map((op) => (pp.allowed(op, property, { roles: callerRoles, serviceRoles }) ? op[0]!.toUpperCase() : '-')).join('');
}

test("Glance's roles sample: x_ properties for members, everything else admin-only", () => {
  const pp = loadPropertyProtections(writeFile(ROLES_SAMPLE), 'roles');
  assert.equal(ops(pp, 'x_billing_code', ['member']), 'CRUD');
  assert.equal(ops(pp, 'x_billing_code', ['_member_']), 'CRUD');
  assert.equal(ops(pp, 'x_billing_code', ['reader']), '----');
  assert.equal(ops(pp, 'hw_disk_bus', ['member']), '----');
  assert.equal(ops(pp, 'hw_disk_bus', ['admin']), 'CRUD');
  // re.search, anchored by the section's own ^ only.
  assert.equal(ops(pp, 'a_x_billing', ['member']), '----');
});

test("Glance's functional-test roles file: first matching section in file order wins", () => {
  const pp = roles(ROLES_FIXTURE);
  assert.equal(ops(pp, 'x_owner_foo', ['member']), 'CRUD');
  assert.equal(ops(pp, 'x_owner_foo', ['fake_role']), '----');
  assert.equal(ops(pp, 'spl_create_prop', ['spl_role']), 'CR--');
  assert.equal(ops(pp, 'spl_read_only_prop', ['spl_role']), '-R--');
  assert.equal(ops(pp, 'spl_update_only_prop', ['spl_role']), '--U-');
  assert.equal(ops(pp, 'spl_delete_prop', ['spl_role']), 'CR-D');
  assert.equal(ops(pp, 'spl_update_prop', ['admin']), 'CRUD');
  // Unanchored section names match anywhere in the name.
  assert.equal(ops(pp, 'my_spl_create_prop_2', ['spl_role']), 'CR--');
  // [x_foo_matcher] comes before [x_foo_*], which would match too.
  assert.equal(ops(pp, 'x_foo_matcher', ['member']), '----');
  assert.equal(ops(pp, 'x_foo_matcher', ['admin']), 'CRUD');
  assert.equal(ops(pp, 'x_foo_bar', []), 'CRUD');
  // The catch-all comes last.
  assert.equal(ops(pp, 'test_prop', ['member']), '----');
  assert.equal(ops(pp, 'test_prop', ['admin']), 'CRUD');
});

test('@ allows everyone, ! nobody (admin included)', () => {
  const pp = roles(ROLES_FIXTURE);
  assert.equal(ops(pp, 'x_all_permitted_1', []), 'CRUD');
  assert.equal(ops(pp, 'x_all_permitted_2', ['joe_soap']), 'CRUD');
  assert.equal(ops(pp, 'x_none_permitted', ['admin']), '----');
  assert.equal(ops(pp, 'x_none_read', ['admin']), 'C---');
  assert.equal(ops(pp, 'x_none_read', ['member']), 'C---');
  assert.equal(ops(pp, 'x_none_update', ['admin', 'member']), 'CR-D');
  assert.equal(ops(pp, 'x_none_delete', ['member']), 'CRU-');
  assert.equal(ops(pp, 'x_none_delete', ['reader']), '----');
});

test('role names compare case-insensitively, on both sides', () => {
  const pp = roles(ROLES_FIXTURE);
  assert.equal(ops(pp, 'x_case_insensitive', ['member']), 'CRUD');
  assert.equal(ops(pp, 'x_case_insensitive', ['MEMBER']), 'CRUD');
  assert.equal(ops(pp, 'x_owner_foo', ['Member']), 'CRUD');
  assert.equal(ops(pp, 'test_prop', ['ADMIN']), 'CRUD');
});

test('service-token roles count as the caller’s roles', () => {
  const pp = roles(ROLES_FIXTURE);
  assert.equal(ops(pp, 'test_prop', ['member']), '----');
  assert.equal(ops(pp, 'test_prop', ['member'], ['admin']), 'CRUD');
  assert.equal(ops(pp, 'spl_read_only_prop', [], ['SPL_ROLE']), '-R--');
});

test('an empty value allows nobody; a property no section matches is denied', () => {
  const pp = roles(`[^x_]\ncreate =\nread = @\nupdate = admin,\ndelete = ,\n`);
  assert.equal(ops(pp, 'x_a', ['admin']), '-RU-');
  assert.equal(ops(pp, 'x_a', ['']), '-R--');
  assert.equal(ops(pp, 'y_a', ['admin']), '----');
  assert.equal(ops(pp, 'hw_disk_bus', ['admin']), '----');
});

test('os_glance_* properties are allowed to everyone, ahead of the file’s sections', () => {
  const pp = roles(`[.*]\n${crud('!')}\n`);
  assert.equal(ops(pp, 'os_glance_import_task', []), 'CRUD');
  assert.equal(ops(pp, 'os_glance_failed_import', ['member']), 'CRUD');
  assert.equal(ops(pp, 'x_os_glance_foo', ['admin']), '----');
  const pol = policies(`[.*]\n${crud('context_is_admin')}\n`);
  const calls: string[] = [];
  const check = (rule: string) => (calls.push(rule), false);
  assert.equal(pol.allowed('update', 'os_glance_importing_to_stores', { roles: [] }, check), true);
  assert.deepEqual(calls, []);
});

test("Glance's policies sample and test file: the rule name goes to the policy callback", () => {
  const sample = policies(POLICIES_SAMPLE);
  const calls: string[] = [];
  const grant = (granted: string[]) => (rule: string) => (calls.push(rule), granted.includes(rule));
  assert.equal(sample.allowed('read', 'x_billing', { roles: ['member'] }, grant(['default'])), true);
  assert.equal(sample.allowed('update', 'hw_disk_bus', { roles: ['member'] }, grant(['default'])), false);
  assert.deepEqual(calls, ['default', 'context_is_admin']);

  const pp = policies(POLICIES_FIXTURE);
  calls.length = 0;
  const creator = grant(['glance_creator']);
  assert.equal(pp.allowed('create', 'spl_creator_policy', { roles: [] }, creator), true);
  assert.equal(pp.allowed('update', 'spl_creator_policy', { roles: [] }, creator), false);
  assert.equal(pp.allowed('read', 'spl_default_policy', { roles: [] }, creator), false);
  assert.deepEqual(calls, ['glance_creator', 'context_is_admin', 'default']);

  // @ and ! decide without asking the policy.
  calls.length = 0;
  const everything = grant(['glance_creator', 'context_is_admin', 'default']);
  assert.equal(pp.allowed('delete', 'x_all_permitted_1', { roles: [] }, everything), true);
  assert.equal(pp.allowed('read', 'x_none_permitted_1', { roles: ['admin'] }, everything), false);
  assert.equal(pp.allowed('update', 'x_none_update', { roles: ['admin'] }, everything), false);
  assert.equal(pp.allowed('create', 'x_foo_bar', { roles: [] }, everything), true);
  assert.deepEqual(calls, []);
  assert.equal(pp.allowed('create', 'x_foo_matcher', { roles: [] }, everything), true);
  assert.equal(pp.allowed('create', 'unmatched?', { roles: [] }, grant([])), false);
  assert.deepEqual(calls, ['context_is_admin', 'context_is_admin']);
});

test('policies format: empty value denies without asking; a missing callback is a programming error', () => {
  const pp = policies(`[^x_]\ncreate =\nread = default\nupdate = @\ndelete = !\n`);
  assert.equal(pp.allowed('create', 'x_a', { roles: ['admin'] }, () => assert.fail('not asked')), false);
  assert.throws(() => pp.allowed('update', 'x_a', { roles: [] }), /needs a policy callback/);
  // The roles format never asks.
  assert.equal(roles(ROLES_SAMPLE).allowed('read', 'x_a', { roles: ['member'] }), true);
});

test('section names are Python regular expressions', () => {
  const pp = roles(
    [
      `[\\Ax_exact\\Z]\n${crud('@')}`,
      `[(?i)^CAPS_]\n${crud('@')}`,
      `[^x_[ab]]\n${crud('@')}`,
      `[^(?P<p>[yz])_(?P=p)$]\n${crud('@')}`,
      `[^w_[]x]]\n${crud('@')}`,
    ].join('\n\n'),
  );
  assert.equal(pp.allowed('read', 'x_exact', { roles: [] }), true);
  assert.equal(pp.allowed('read', 'x_exact_more', { roles: [] }), false);
  assert.equal(pp.allowed('read', 'caps_x', { roles: [] }), true);
  assert.equal(pp.allowed('read', 'x_b', { roles: [] }), true);
  assert.equal(pp.allowed('read', 'x_c', { roles: [] }), false);
  assert.equal(pp.allowed('read', 'y_y', { roles: [] }), true);
  assert.equal(pp.allowed('read', 'y_z', { roles: [] }), false);
  assert.equal(pp.allowed('read', 'w_]', { roles: [] }), true);
});

test('DEFAULT values apply to every section; keys are case-insensitive; values may continue', () => {
  const pp = roles(`[DEFAULT]\nread = @\ndelete = !\n\n[^x_]\nCREATE: admin,\n  member\nUpdate = admin\n`);
  assert.equal(ops(pp, 'x_a', ['member']), 'CR--');
  assert.equal(ops(pp, 'x_a', ['admin']), 'CRU-');
  assert.equal(ops(pp, 'DEFAULT', ['admin']), '----'); // [DEFAULT] is not a rule
});

test('configuration errors name the file, line and section', () => {
  const bad = (text: string, format: 'roles' | 'policies', pattern: RegExp) => {
    const file = writeFile(text);
    assert.throws(() => loadPropertyProtections(file, format), (err: unknown) => {
      assert.ok(err instanceof PropertyProtectionError, String(err));
      assert.match(err.message, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.match(err.message, pattern);
      return true;
    });
  };
  bad(`[.*]\ncreate = admin\nread = admin\ndelete = admin\n`, 'roles', /:1: section \[\.\*\]: missing 'update'/);
  bad(`[a]\n${crud('admin')}\n\n[b]\n`, 'roles', /:7: section \[b\]: missing 'create'/);
  bad(`[a]\n${crud('admin')}\nupdte = admin\n`, 'roles', /:6: unknown key 'updte'/);
  bad(`[a]\ncreate = @, !\nread = @\nupdate = @\ndelete = @\n`, 'roles', /:2: \[a\] create = @, !: '@' and '!' are mutually exclusive/);
  bad(`[a]\n${crud('@')}\n[^x_(]\n${crud('@')}\n`, 'roles', /:6: section \[\^x_\(\]: invalid regular expression/);
  bad(`[*x]\n${crud('@')}\n`, 'roles', /section \[\*x\]: invalid regular expression/);
  bad(`[x\\q]\n${crud('@')}\n`, 'roles', /section \[x\\q\]: invalid regular expression: bad escape \\q/);
  bad(`[(?<n>x)]\n${crud('@')}\n`, 'roles', /invalid regular expression: unknown extension \?<n/);
  bad(`[a]\ncreate = glance_creator, context_is_admin\nread = default\nupdate = default\ndelete = default\n`, 'policies', /:2: \[a\] create: only one policy/);
  bad(`[a]\n${crud('@')}\n[a]\n${crud('@')}\n`, 'roles', /:6: section \[a\] appears twice/);
  bad(`[a]\n${crud('@')}\nread = admin\n`, 'roles', /:6: 'read' given twice/);
  bad(`create = admin\n`, 'roles', /:1: 'create' is outside any \[section\]/);
  bad(`[a]\njust words\n`, 'roles', /:2: cannot parse line/);
  bad(`# nothing here\n`, 'roles', /no \[section\]/);
  bad(`[a]\n${crud('%(x)s')}\n`, 'roles', /'%' is not allowed/);
  const missing = path.join(dir, 'absent.conf');
  assert.throws(() => loadPropertyProtections(missing, 'roles'), (err: unknown) =>
    err instanceof PropertyProtectionError && err.message.includes(missing) && /ENOENT/.test(err.message));
  assert.throws(() => loadPropertyProtections(writeFile(ROLES_SAMPLE), 'acl' as 'roles'), PropertyProtectionError);
});
