import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeContext, type RequestContext } from '../src/auth/context.js';
import { openDatabase, type DatabaseHandle } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { SqlUnitOfWork } from '../src/db/unit-of-work.js';
import { DomainError } from '../src/domain/errors.js';
import { ImageAccess, visibleTo } from '../src/domain/image-access.js';
import type { ImageRecord, MemberStatus } from '../src/domain/image-model.js';
import { ImagePatcher, type PatchOp } from '../src/domain/image-patch.js';
import { AccessPolicy } from '../src/domain/image-policy.js';
import { checkImageQuotas } from '../src/domain/image-quotas.js';
import { buildImageSchema, ImageAttributes } from '../src/domain/image-schema.js';
import { PolicyEnforcer } from '../src/policy/enforcer.js';
import { loadPropertyProtections } from '../src/policy/property-protections.js';
import { tempDir } from './support/harness.js';

/** The domain's rules without HTTP: access, the PATCH engine, quotas — on a real SQLite repository and Glance's default policy. */

const member = (project: string): RequestContext => makeContext({ requestId: 'r', userId: `u-${project}`, projectId: project, roles: ['member', 'reader'] });
const reader = (project: string): RequestContext => makeContext({ requestId: 'r', userId: `u-${project}`, projectId: project, roles: ['reader'] });
const admin = makeContext({ requestId: 'r', userId: 'admin', projectId: 'admin-project', roles: ['admin', 'member', 'reader'] });

function image(fields: Partial<ImageRecord> = {}): ImageRecord {
  const now = Date.now();
  return {
    id: randomUUID(), name: 'x', status: 'queued', visibility: 'shared', protected: false, os_hidden: false,
    checksum: null, os_hash_algo: null, os_hash_value: null, owner: 'p1', size: null, virtual_size: null,
    min_disk: 0, min_ram: 0, container_format: 'bare', disk_format: 'raw',
    created_at: now, updated_at: now, deleted_at: null, tags: [], properties: {}, locations: [], ...fields,
  };
}

const status = (fn: () => unknown): number | 'ok' => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (err instanceof DomainError) return err.status;
    throw err;
  }
};

describe('visibility (Glance is_image_visible)', () => {
  const cases: [string, Partial<ImageRecord>, RequestContext, MemberStatus | null, boolean][] = [
    ['own private image', { visibility: 'private', owner: 'p1' }, member('p1'), null, true],
    ["another project's private image", { visibility: 'private', owner: 'p2' }, member('p1'), null, false],
    ['a public image', { visibility: 'public', owner: 'p2' }, member('p1'), null, true],
    ['a community image', { visibility: 'community', owner: 'p2' }, member('p1'), null, true],
    ['a shared image without membership', { visibility: 'shared', owner: 'p2' }, member('p1'), null, false],
    ['a shared image with a pending membership', { visibility: 'shared', owner: 'p2' }, member('p1'), 'pending', true],
    ['a shared image with a rejected membership', { visibility: 'shared', owner: 'p2' }, member('p1'), 'rejected', true],
    ['anything, for an admin', { visibility: 'private', owner: 'p2' }, admin, null, true],
  ];
  for (const [what, fields, ctx, membership, visible] of cases) {
    test(`${what}: ${visible ? 'visible' : 'hidden'}`, () => {
      const found = visibleTo(ctx, { image: image(fields), viewerMembership: membership });
      assert.equal(found !== null, visible);
      if (found && membership) assert.equal(found.memberId, ctx.projectId, 'seen as a member');
    });
  }
});

describe('access, PATCH engine and quotas on a real repository', () => {
  let dir: string;
  let db: DatabaseHandle;
  let uow: SqlUnitOfWork;
  let access: ImageAccess;
  let patcher: ImagePatcher;
  const schema = buildImageSchema({ disk: ['raw', 'qcow2'], container: ['bare'] });

  before(async () => {
    dir = tempDir('ocellus-domain-');
    db = openDatabase(`sqlite:///${path.join(dir, 'ocellus.db')}`);
    await migrateToLatest(db);
    uow = new SqlUnitOfWork(db);
    const protections = loadPropertyProtections(writeProtections(dir), 'roles');
    access = new ImageAccess(uow.repos.images, new AccessPolicy(new PolicyEnforcer(null)), protections);
    patcher = new ImagePatcher(new ImageAttributes(schema), access);
  });
  after(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function stored(fields: Partial<ImageRecord> = {}): Promise<ImageRecord> {
    const img = image(fields);
    assert.equal(await uow.repos.images.insert(img), true);
    return img;
  }

  test('find: 404 for an invisible image, 404 for an unknown one, the image for its owner', async () => {
    const img = await stored({ visibility: 'private', owner: 'p1' });
    assert.equal((await access.find(member('p1'), img.id)).image.id, img.id);
    await assert.rejects(access.find(member('p2'), img.id), (e: DomainError) => e.status === 404);
    await assert.rejects(access.find(member('p1'), randomUUID()), (e: DomainError) => e.status === 404);
  });

  test('require: 403 where the caller sees the image but the rule refuses, 404 where it does not see it', async () => {
    const img = await stored({ visibility: 'public', owner: 'p1' });
    await assert.rejects(access.require(member('p2'), img.id, 'modify_image'), (e: DomainError) => e.status === 403);
    await assert.rejects(access.require(reader('p1'), img.id, 'delete_image'), (e: DomainError) => e.status === 403);
    const hidden = await stored({ visibility: 'private', owner: 'p1' });
    await assert.rejects(access.require(member('p2'), hidden.id, 'modify_image'), (e: DomainError) => e.status === 404);
  });

  test('a member project reaches a shared image as its member (one round trip brings the membership)', async () => {
    const img = await stored({ visibility: 'shared', owner: 'p1' });
    await uow.repos.members.add({ image_id: img.id, member: 'p3', status: 'pending', created_at: Date.now(), updated_at: Date.now() }, -1);
    const seen = await access.find(member('p3'), img.id);
    assert.equal(seen.memberId, 'p3');
    await assert.rejects(access.find(member('p4'), img.id), (e: DomainError) => e.status === 404);
  });

  test('readable: properties the caller may not read are left out', async () => {
    const img = await stored({ properties: { secret_x: 'a', open: 'b' } });
    assert.deepEqual(access.readable(member('p1'), img).properties, { open: 'b' });
    assert.deepEqual(access.readable(admin, img).properties, { secret_x: 'a', open: 'b' });
  });

  const op = (o: PatchOp['op'], p: string, value?: unknown, style: PatchOp['style'] = 'v2.1'): PatchOp => ({ op: o, path: [p], value, style });

  test('PATCH: checks before any change (read-only, reserved, pointer, schema)', () => {
    assert.equal(status(() => patcher.check([op('replace', 'status', 'active')])), 403);
    assert.equal(status(() => patcher.check([op('replace', 'checksum', 'x')])), 403);
    assert.equal(status(() => patcher.check([op('replace', 'id', randomUUID())])), 403);
    assert.equal(status(() => patcher.check([op('add', 'stores', 'a')])), 403);
    assert.equal(status(() => patcher.check([op('add', 'os_glance_x', 'a')])), 403);
    assert.equal(status(() => patcher.check([op('add', 'deleted', 'a')])), 403);
    assert.equal(status(() => patcher.check([{ op: 'add', path: ['a', 'b'], value: 'x' }])), 400);
    assert.equal(status(() => patcher.check([op('replace', 'min_ram', 'lots')])), 400);
    assert.equal(status(() => patcher.check([op('replace', 'disk_format', 'floppy')])), 400);
    assert.equal(status(() => patcher.check([op('add', 'x_custom', 'a'), op('replace', 'name', 'n')])), 'ok');
  });

  test('PATCH: applies to a copy, with Glance conflicts and refusals', async () => {
    const img = await stored({ owner: 'p1', properties: { a: '1' } });
    const visible = await access.find(member('p1'), img.id);
    const next = patcher.apply(member('p1'), visible, [op('replace', 'name', 'renamed'), op('add', 'b', '2'), op('remove', 'a'), op('replace', 'tags', ['x', 'x', 'y'])]);
    assert.equal(next.name, 'renamed');
    assert.deepEqual(next.properties, { b: '2' });
    assert.deepEqual(next.tags, ['x', 'y']);
    assert.equal(visible.image.name, 'x', 'the image read is untouched');
    const ctx = member('p1');
    assert.equal(status(() => patcher.apply(ctx, visible, [op('remove', 'missing')])), 409);
    assert.equal(status(() => patcher.apply(ctx, visible, [op('replace', 'missing', 'v')])), 409);
    assert.equal(status(() => patcher.apply(ctx, visible, [op('add', 'a', 'v', 'v2.0')])), 409);
    assert.equal(status(() => patcher.apply(ctx, visible, [op('add', 'name', 'v', 'v2.0')])), 409);
    assert.equal(status(() => patcher.apply(ctx, visible, [op('remove', 'name')])), 403);
    assert.equal(status(() => patcher.apply(ctx, visible, [op('replace', 'owner', 'p1')])), 403);
    assert.equal(status(() => patcher.apply(ctx, visible, [op('replace', 'visibility', 'public')])), 403);
    assert.equal(status(() => patcher.apply(ctx, visible, [op('add', 'secret_y', 'v')])), 403, 'property protections');
    assert.equal(status(() => patcher.apply(member('p2'), { image: { ...img, visibility: 'public' }, memberId: null }, [op('replace', 'name', 'n')])), 403);
  });

  test('PATCH: disk_format and container_format only while queued or importing', async () => {
    for (const [s, expected] of [['queued', 'ok'], ['importing', 'ok'], ['active', 403], ['deactivated', 403], ['saving', 403]] as const) {
      const img = image({ owner: 'p1', status: s });
      assert.equal(status(() => patcher.apply(member('p1'), { image: img, memberId: null }, [op('replace', 'disk_format', 'qcow2')])), expected, s);
    }
  });

  test('quotas: 413 only when a change adds beyond the quota', () => {
    const quotas = { properties: 2, tags: 1 };
    const base = image({ properties: { a: '1', b: '2' }, tags: ['t'] });
    assert.equal(status(() => checkImageQuotas(quotas, base, null)), 'ok');
    assert.equal(status(() => checkImageQuotas(quotas, { ...base, properties: { ...base.properties, c: '3' } }, base)), 413);
    assert.equal(status(() => checkImageQuotas(quotas, { ...base, properties: { ...base.properties, os_glance_x: '3' } }, base)), 'ok', 'os_glance* do not count');
    assert.equal(status(() => checkImageQuotas(quotas, { ...base, tags: ['t', 'u'] }, base)), 413);
    const over = image({ properties: { a: '1', b: '2', c: '3' } });
    assert.equal(status(() => checkImageQuotas(quotas, { ...over, properties: { a: '9', b: '2', c: '3' } }, over)), 'ok', 'an image over a lowered quota may still change');
    assert.equal(status(() => checkImageQuotas({ properties: -1, tags: -1 }, image({ tags: ['a', 'b', 'c'] }), null)), 'ok', 'negative = unlimited');
  });
});

function writeProtections(dir: string): string {
  const file = path.join(dir, 'protections.conf');
  fs.writeFileSync(file, '[^secret_]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n\n[.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n');
  return file;
}
