import assert from 'node:assert/strict';
import { random } from './support/streaming.js';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startServer, tempDir, type TestServer } from './support/harness.js';
import { glanceEnv, requireTools, runCommand, type Run } from './support/glance-cli.js';
import { createProject, createUser, deleteProject, deleteUser, keystoneFromEnv, keystoneSkip, setImageEndpoint, type TestUser } from './support/keystone.js';

/**
 * Debian's `openstack` CLI (python3-openstackclient) with password auth: it finds Ocellus through
 * Keystone's catalog, exactly as it would find Glance.
 */

const skip = keystoneSkip() ?? requireTools(['openstack'], 'python3-openstackclient');

describe('openstack CLI through Keystone', { skip }, () => {
  let s: TestServer;
  let work: string;
  let previousEndpoint: string | undefined;
  const projects: string[] = [];
  const users: TestUser[] = [];
  let owner: TestUser;
  let ownerProject: string;
  let otherProject: string;

  before(async () => {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    s = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'keystone' },
      { section: 'keystone_authtoken', name: 'auth_url', value: env.url },
      { section: 'keystone_authtoken', name: 'username', value: 'ocellus' },
      { section: 'keystone_authtoken', name: 'password', value: env.servicePassword },
      { section: 'keystone_authtoken', name: 'project_name', value: 'service' },
    ]);
    // The catalog is shared by everything using this Keystone: only this file changes it, and puts it back.
    previousEndpoint = await setImageEndpoint(s.url);
    ownerProject = await createProject();
    otherProject = await createProject();
    projects.push(ownerProject, otherProject);
    owner = await createUser({ password: randomBytes(9).toString('base64url'), projectId: ownerProject, roles: ['member'] });
    users.push(owner);
    work = tempDir('ocellus-osc-');
  });
  after(async () => {
    if (previousEndpoint) await setImageEndpoint(previousEndpoint);
    await s?.close();
    for (const u of users) await deleteUser(u.id);
    for (const p of projects) await deleteProject(p);
  });

  function openstack(args: string[]): Promise<Run> {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    const osEnv = {
      ...glanceEnv(work),
      OS_AUTH_URL: env.url,
      OS_IDENTITY_API_VERSION: '3',
      OS_USERNAME: owner.name,
      OS_PASSWORD: owner.password,
      OS_PROJECT_ID: ownerProject,
      OS_USER_DOMAIN_ID: 'default',
      OS_PROJECT_DOMAIN_ID: 'default',
      OS_REGION_NAME: 'RegionOne',
      OS_INTERFACE: 'public',
    };
    return runCommand('openstack', args, { env: osEnv, cwd: work, timeoutMs: 60_000 });
  }

  async function ok(args: string[]): Promise<string> {
    const r = await openstack(args);
    assert.equal(r.code, 0, `openstack ${args.join(' ')}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  test('image create --file, list, show, save, set --property, add project, delete', async () => {
    const file = path.join(work, 'disk.raw');
    const data = random(3 * 1024 * 1024 + 17);
    fs.writeFileSync(file, data);
    const name = `osc-${randomBytes(4).toString('hex')}`;

    const created = JSON.parse(await ok(['image', 'create', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', '--shared', name, '-f', 'json']));
    assert.equal(created.name, name);
    const id = created.id as string;

    const listed = JSON.parse(await ok(['image', 'list', '-f', 'json'])) as { ID: string; Name: string; Status: string }[];
    assert.deepEqual(listed.find((i) => i.ID === id), { ID: id, Name: name, Status: 'active' });

    const shown = JSON.parse(await ok(['image', 'show', id, '-f', 'json']));
    assert.equal(shown.status, 'active');
    assert.equal(shown.size, data.length);
    assert.equal(shown.checksum, createHash('md5').update(data).digest('hex'));
    assert.equal(shown.owner, ownerProject);

    const saved = path.join(work, 'saved.raw');
    await ok(['image', 'save', '--file', saved, id]);
    assert.ok(fs.readFileSync(saved).equals(data), 'image save returns the bytes uploaded');

    await ok(['image', 'set', '--property', 'os_distro=debian', '--property', 'hw_disk_bus=virtio', id]);
    const props = JSON.parse(await ok(['image', 'show', id, '-f', 'json'])).properties as Record<string, unknown>;
    assert.equal(props.os_distro, 'debian');
    assert.equal(props.hw_disk_bus, 'virtio');

    const member = JSON.parse(await ok(['image', 'add', 'project', id, otherProject, '-f', 'json']));
    assert.equal(member.member_id ?? member.member, otherProject);
    assert.equal(member.status, 'pending');

    await ok(['image', 'delete', id]);
    const gone = await openstack(['image', 'show', id]);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr + gone.stdout, /No Image found|404|Not ?Found/i);
  });

  // openstackclient 6.0's only import flag is `image create --import` (openstacksdk: PUT /stage,
  // then POST /import with glance-direct); it has no --import-method, --uri, --stores nor `image
  // stage` / `image import` commands (later versions do): the glance CLI test drives those.
  test('image create --import: staged, imported with glance-direct, active with the bytes', async () => {
    const file = path.join(work, 'import.raw');
    const data = randomBytes(2 * 1024 * 1024 + 5);
    fs.writeFileSync(file, data);
    const name = `osc-import-${randomBytes(4).toString('hex')}`;

    const created = JSON.parse(await ok(['image', 'create', '--import', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', name, '-f', 'json']));
    const id = created.id as string;
    let shown: Record<string, any> = {}; // eslint-disable-line @typescript-eslint/no-explicit-any
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      shown = JSON.parse(await ok(['image', 'show', id, '-f', 'json']));
      if (shown.status !== 'importing' && shown.status !== 'uploading') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(shown.status, 'active');
    assert.equal(shown.size, data.length);
    assert.equal(shown.checksum, createHash('md5').update(data).digest('hex'));
    // openstackclient shows the multihash and the import's own properties (which a plain upload,
    // PUT /file, never sets) under `properties`.
    const props = shown.properties as Record<string, unknown>;
    assert.equal(props.os_hash_value, createHash('sha512').update(data).digest('hex'));
    assert.equal(props.os_glance_importing_to_stores, '', JSON.stringify(props));
    assert.equal(props.os_glance_failed_import, '', JSON.stringify(props));

    const saved = path.join(work, 'import-saved.raw');
    await ok(['image', 'save', '--file', saved, id]);
    assert.ok(fs.readFileSync(saved).equals(data), 'image save returns the bytes imported');
    await ok(['image', 'delete', id]);
  });
});
