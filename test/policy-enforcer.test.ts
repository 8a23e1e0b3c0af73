import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PolicyEnforcer, PolicyFileError } from '../src/policy/enforcer.js';
import { tempDir } from './support/harness.js';

const reader = { roles: ['reader'], project_id: 'p1' };
const member = { roles: ['member', 'reader'], project_id: 'p1' };
const admin = { roles: ['admin', 'member', 'reader'], project_id: 'p9' };
const image = (over: Record<string, unknown> = {}) => ({ project_id: 'p1', owner: 'p1', visibility: 'private', member_id: null, ...over });

test("Glance's defaults: personas", () => {
  const p = new PolicyEnforcer(null);
  assert.equal(p.enforce('get_image', image(), reader), true);
  assert.equal(p.enforce('get_image', image({ project_id: 'p2' }), reader), false);
  assert.equal(p.enforce('get_image', image({ project_id: 'p2', visibility: 'public' }), reader), true);
  assert.equal(p.enforce('download_image', image(), reader), false, 'a reader cannot download');
  assert.equal(p.enforce('download_image', image(), member), true);
  assert.equal(p.enforce('modify_image', image(), reader), false);
  assert.equal(p.enforce('modify_image', image(), member), true);
  assert.equal(p.enforce('publicize_image', image(), member), false);
  assert.equal(p.enforce('publicize_image', image(), admin), true);
  assert.equal(p.enforce('add_image', { project_id: 'p1', owner: 'p2', visibility: 'private' }, member), false);
  assert.equal(p.enforce('modify_member', image({ member_id: 'p1', project_id: 'p2' }), member), true);
  assert.equal(p.enforce('context_is_admin', {}, admin), true);
  assert.equal(p.enforce('get_task', {}, reader), true, "task rules fall to 'default' (allow)");
});

test('a policy file overrides rules by name and is reloaded when it changes', async () => {
  const file = path.join(tempDir('ocellus-policy-'), 'policy.yaml');
  fs.writeFileSync(file, '"publicize_image": "role:member"\n');
  let clock = 0;
  const p = new PolicyEnforcer(file, () => undefined, () => clock);
  assert.equal(p.enforce('publicize_image', image(), member), true);
  assert.equal(p.enforce('modify_image', image(), member), true, 'other rules keep their defaults');
  fs.writeFileSync(file, '{"publicize_image": "!"}\n');
  fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
  clock += 2000;
  assert.equal(p.enforce('publicize_image', image(), member), false);
  assert.equal(p.enforce('publicize_image', image(), admin), false, 'JSON works too');
});

test('a broken file stops start-up with the rule and position; a broken reload keeps the rules', () => {
  const file = path.join(tempDir('ocellus-policy-'), 'policy.yaml');
  fs.writeFileSync(file, 'modify_image: "role:member and"\n');
  assert.throws(() => new PolicyEnforcer(file), (err: unknown) => err instanceof PolicyFileError && /'modify_image'.*position 15/.test(err.message));
  assert.throws(() => new PolicyEnforcer(path.join(path.dirname(file), 'missing.yaml')), /does not exist/);

  fs.writeFileSync(file, 'modify_image: "role:admin"\n');
  let clock = 0;
  const logs: string[] = [];
  const p = new PolicyEnforcer(file, (m) => logs.push(m), () => clock);
  fs.writeFileSync(file, 'modify_image: "(role:member"\n');
  fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
  clock += 2000;
  assert.equal(p.enforce('modify_image', image(), member), false);
  assert.equal(p.enforce('modify_image', image(), admin), true);
  assert.match(logs.join('\n'), /keeping the version in force/);
});
