import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { admin, api, member, tempDir, type JsonResponse, type TestServer, startServer } from './support/harness.js';
import { Consumer, deleteOnBroker, eventOf, rabbitUnavailable, RABBIT_HOST, RABBIT_PORT } from './support/rabbitmq.js';
import { runsOn, testDbKind } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * The metadefs API (api-v2.md §11) on each database: every route with Glance's status codes and
 * bodies, namespace visibility and the metadef_* policy rules, protected namespaces, name clashes,
 * paging and sorting (the same pages on SQLite, PostgreSQL and MariaDB), the ten schemas, and the
 * metadef_* notifications on the real RabbitMQ.
 */

let server: TestServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.close();
});

const ADMIN = admin();
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const reader = (project: string) => ({ 'x-project-id': project, 'x-user-id': `r-${project}`, 'x-roles': 'reader' });
const call = (method: string, p: string, headers: Record<string, string> = ADMIN, json?: unknown): Promise<JsonResponse> => api(server.url, method, p, { headers, json });
const ns = (name: string, rest = '') => `/v2/metadefs/namespaces/${encodeURIComponent(name)}${rest}`;

async function expectStatus(r: Promise<JsonResponse> | JsonResponse, status: number): Promise<JsonResponse> {
  const res = await r;
  assert.equal(res.status, status, `${status} expected: ${res.text}`);
  return res;
}

async function createNamespace(body: Record<string, unknown>, headers = ADMIN): Promise<JsonResponse> {
  return expectStatus(call('POST', '/v2/metadefs/namespaces', headers, body), 201);
}

describe(`metadef namespaces on ${testDbKind()}`, () => {
  test('create with everything embedded: 201, Location, the request echoed; show returns it all, prefixed on request', async () => {
    const name = unique('OS::Test::Full');
    const rt = unique('OS::Glance::Img');
    const created = await createNamespace({
      namespace: name,
      display_name: 'Full',
      description: 'everything',
      visibility: 'public',
      resource_type_associations: [{ name: rt, prefix: 'hw_', properties_target: 'image' }],
      properties: { watchdog: { title: 'Watchdog', type: 'string', enum: ['reset', 'none'], default: 'none' } },
      objects: [{ name: 'CPU', description: 'cpu', required: ['cores'], properties: { cores: { title: 'Cores', type: 'integer', minimum: 1 } } }],
      tags: [{ name: 'fast' }, { name: 'small' }],
    });
    assert.equal(created.headers.get('location'), `${server.url}/v2/metadefs/namespaces/${name}`);
    const b = created.body;
    assert.equal(b.namespace, name);
    assert.equal(b.owner, 'admin-project');
    assert.equal(b.protected, false);
    assert.equal(b.self, `/v2/metadefs/namespaces/${name}`);
    assert.equal(b.schema, '/v2/schemas/metadefs/namespace');
    assert.match(b.created_at, TIMESTAMP);
    assert.deepEqual(b.resource_type_associations, [{ name: rt, prefix: 'hw_', properties_target: 'image' }]);
    assert.deepEqual(b.properties, { watchdog: { type: 'string', title: 'Watchdog', default: 'none', enum: ['reset', 'none'] } });
    assert.deepEqual(b.tags, [{ name: 'fast' }, { name: 'small' }]);

    const shown = (await expectStatus(call('GET', ns(name)), 200)).body;
    assert.equal(shown.display_name, 'Full');
    assert.deepEqual(Object.keys(shown.properties), ['watchdog']);
    assert.equal(shown.objects.length, 1);
    assert.equal(shown.objects[0].self, `/v2/metadefs/namespaces/${name}/objects/CPU`);
    assert.deepEqual(shown.objects[0].required, ['cores']);
    assert.deepEqual(shown.tags, [{ name: 'fast' }, { name: 'small' }]);
    assert.equal(shown.resource_type_associations[0].name, rt);
    assert.match(shown.resource_type_associations[0].created_at, TIMESTAMP);

    const prefixed = (await expectStatus(call('GET', `${ns(name)}?resource_type=${encodeURIComponent(rt)}`), 200)).body;
    assert.deepEqual(Object.keys(prefixed.properties), ['hw_watchdog']);
    assert.deepEqual(Object.keys(prefixed.objects[0].properties), ['hw_cores']);
    assert.deepEqual(prefixed.objects[0].required, ['hw_cores']);
    // Another resource type: nothing prefixed.
    assert.deepEqual(Object.keys((await call('GET', `${ns(name)}?resource_type=OS::Nova::Flavor`)).body.properties), ['watchdog']);
  });

  test('bad requests: read-only attributes 403, schema violations 400, duplicates 409 (nothing half created), bodies on GET 400, other methods 405', async () => {
    const name = unique('OS::Test::Bad');
    for (const key of ['self', 'schema', 'created_at', 'updated_at']) {
      const r = await expectStatus(call('POST', '/v2/metadefs/namespaces', ADMIN, { namespace: name, [key]: 'x' }), 403);
      assert.match(r.text, new RegExp(`Attribute '${key}' is read-only`));
    }
    for (const body of [
      {},
      { namespace: 'x'.repeat(81) },
      { namespace: name, visibility: 'shared' },
      { namespace: name, unknown: 1 },
      { namespace: name, protected: 'yes' },
      { namespace: name, properties: { p: { type: 'string' } } },
      { namespace: name, properties: { p: { title: 'P', type: 'text' } } },
    ]) {
      await expectStatus(call('POST', '/v2/metadefs/namespaces', ADMIN, body), 400);
    }
    await expectStatus(api(server.url, 'POST', '/v2/metadefs/namespaces', { headers: ADMIN, body: '{"namespace":', contentType: 'application/json' }), 400);
    await createNamespace({ namespace: name });
    assert.match((await expectStatus(call('POST', '/v2/metadefs/namespaces', ADMIN, { namespace: name }), 409)).text, /already exists/);
    // A clash among the embedded tags undoes the namespace too.
    const other = unique('OS::Test::Half');
    await expectStatus(call('POST', '/v2/metadefs/namespaces', ADMIN, { namespace: other, tags: [{ name: 'a' }, { name: 'a' }] }), 409);
    await expectStatus(call('GET', ns(other)), 404);

    await expectStatus(api(server.url, 'DELETE', ns(name), { headers: ADMIN, body: '{}', contentType: 'application/json' }), 400);
    await expectStatus(call('GET', ns(name)), 200);
    const wrong = await expectStatus(call('PATCH', ns(name), ADMIN, {}), 405);
    assert.equal(wrong.headers.get('allow'), 'GET, PUT, DELETE');
  });

  test('visibility: a private namespace is its project’s (and admins’); others get 404 and do not list it', async () => {
    const owner = unique('proj');
    const stranger = unique('proj');
    const rt = unique('OS::Vis');
    const priv = unique('OS::Test::Private');
    const pub = unique('OS::Test::Public');
    await createNamespace({ namespace: priv, owner, resource_type_associations: [{ name: rt }], tags: [{ name: 't' }] });
    await createNamespace({ namespace: pub, owner, visibility: 'public', resource_type_associations: [{ name: rt }] });
    const names = async (headers: Record<string, string>, q = '') =>
      (await expectStatus(call('GET', `/v2/metadefs/namespaces?resource_types=${encodeURIComponent(rt)}${q}`, headers), 200)).body.namespaces.map((n: { namespace: string }) => n.namespace).sort();
    assert.deepEqual(await names(reader(owner)), [priv, pub].sort());
    assert.deepEqual(await names(ADMIN), [priv, pub].sort());
    assert.deepEqual(await names(reader(stranger)), [pub]);
    assert.deepEqual(await names(ADMIN, '&visibility=private'), [priv]);
    assert.equal((await expectStatus(call('GET', ns(priv), reader(owner)), 200)).body.visibility, 'private');
    for (const p of ['', '/objects', '/properties', '/tags', '/tags/t', '/resource_types']) await expectStatus(call('GET', ns(priv, p), reader(stranger)), 404);
    await expectStatus(call('GET', ns(pub), reader(stranger)), 200);
    // Writes are admin-only by default: 403 where the caller sees the namespace, 404 where it does not.
    await expectStatus(call('PUT', ns(pub), member(owner), { namespace: pub }), 403);
    await expectStatus(call('PUT', ns(priv), member(stranger), { namespace: priv }), 404);
    await expectStatus(call('DELETE', ns(priv, '/tags/t'), member(stranger)), 404);
    await expectStatus(call('POST', '/v2/metadefs/namespaces', member(owner), { namespace: unique('OS::Test::Denied') }), 403);
    // The list needs get_metadef_namespaces (a reader of the project).
    await expectStatus(call('GET', '/v2/metadefs/namespaces', { 'x-project-id': owner, 'x-user-id': 'u', 'x-roles': 'nobody' }), 404);
  });

  test('update replaces every attribute (rename included); a clash is 409; delete refuses a protected namespace, then takes everything', async () => {
    const name = unique('OS::Test::Upd');
    const taken = unique('OS::Test::Taken');
    await createNamespace({ namespace: name, display_name: 'D', description: 'desc', visibility: 'public', objects: [{ name: 'o' }], properties: { p: { title: 'P', type: 'string' } }, tags: [{ name: 't' }] });
    await createNamespace({ namespace: taken });
    assert.match((await expectStatus(call('PUT', ns(name), ADMIN, { namespace: taken }), 409)).text, /duplicate/);
    await expectStatus(call('PUT', ns(name), ADMIN, { namespace: name, self: '/x' }), 403);
    await expectStatus(call('PUT', ns(unique('OS::None')), ADMIN, { namespace: 'x' }), 404);
    const renamed = `${name}-new`;
    const u = (await expectStatus(call('PUT', ns(name), ADMIN, { namespace: renamed, protected: true, owner: 'other' }), 200)).body;
    assert.equal(u.namespace, renamed);
    assert.equal(u.visibility, 'private');
    assert.equal(u.protected, true);
    assert.equal(u.owner, 'other');
    assert.equal(u.display_name, undefined);
    await expectStatus(call('GET', ns(name)), 404);
    // Protected: the namespace and its contents stay.
    for (const p of ['', '/objects', '/properties', '/tags', '/objects/o', '/properties/p', '/tags/t']) {
      assert.match((await expectStatus(call('DELETE', ns(renamed, p)), 403)).text, /protected/);
    }
    await expectStatus(call('PUT', ns(renamed), ADMIN, { namespace: renamed, protected: false }), 200);
    await expectStatus(call('DELETE', ns(renamed)), 204);
    await expectStatus(call('GET', ns(renamed)), 404);
    await expectStatus(call('DELETE', ns(renamed)), 404);
    // Its children went with it: a namespace of the same name starts empty.
    await createNamespace({ namespace: renamed });
    const again = (await call('GET', ns(renamed))).body;
    assert.equal(again.objects, undefined);
    assert.equal(again.tags, undefined);
  });

  test('deleting all objects, properties or tags of a namespace', async () => {
    const name = unique('OS::Test::Contents');
    await createNamespace({ namespace: name, objects: [{ name: 'o1' }, { name: 'o2' }], properties: { p: { title: 'P', type: 'string' } }, tags: [{ name: 't' }] });
    await expectStatus(call('DELETE', ns(name, '/objects')), 204);
    assert.deepEqual((await call('GET', ns(name, '/objects'))).body.objects, []);
    await expectStatus(call('DELETE', ns(name, '/properties')), 204);
    assert.deepEqual((await call('GET', ns(name, '/properties'))).body.properties, {});
    await expectStatus(call('DELETE', ns(name, '/tags')), 204);
    assert.deepEqual((await call('GET', ns(name, '/tags'))).body.tags, []);
    await expectStatus(call('DELETE', ns(unique('OS::None'), '/tags')), 404);
  });

  test('list: limit, marker, sort_key, sort_dir and next links page through the same order on every database', async () => {
    const rt = unique('OS::Page');
    const names = ['d', 'b', 'e', 'a', 'c'].map((l) => `OS::Page::${l}-${rt}`);
    for (const n of names) await createNamespace({ namespace: n, resource_type_associations: [{ name: rt }] });
    const pageThrough = async (query: string): Promise<string[]> => {
      const seen: string[] = [];
      let next: string | undefined = `/v2/metadefs/namespaces?${query}`;
      while (next) {
        const page: JsonResponse = await expectStatus(call('GET', next), 200);
        assert.equal(page.body.schema, '/v2/schemas/metadefs/namespaces');
        assert.ok(page.body.namespaces.length <= 2);
        seen.push(...page.body.namespaces.map((n: { namespace: string }) => n.namespace));
        next = page.body.next;
      }
      return seen;
    };
    const filter = `resource_types=${encodeURIComponent(rt)}`;
    assert.deepEqual(await pageThrough(`${filter}&limit=2&sort_key=namespace&sort_dir=asc`), [...names].sort());
    assert.deepEqual(await pageThrough(`${filter}&limit=2&sort_key=namespace&sort_dir=desc`), [...names].sort().reverse());
    // The default order: newest first (created_at, then id).
    assert.deepEqual(await pageThrough(`${filter}&limit=2`), [...names].reverse());
    const first = (await call('GET', `/v2/metadefs/namespaces?${filter}&limit=2&sort_dir=asc`)).body;
    assert.equal(first.first, `/v2/metadefs/namespaces?resource_types=${encodeURIComponent(rt).replace(/%3A/g, '%3A')}&limit=2&sort_dir=asc`);
    assert.equal(first.next, `${first.first}&marker=${encodeURIComponent(names[1]!)}`);
    await expectStatus(call('GET', '/v2/metadefs/namespaces?sort_dir=up'), 400);
    await expectStatus(call('GET', '/v2/metadefs/namespaces?limit=x'), 400);
    await expectStatus(call('GET', '/v2/metadefs/namespaces?limit=-1'), 400);
    await expectStatus(call('GET', '/v2/metadefs/namespaces?sort_key=colour'), 400);
    await expectStatus(call('GET', '/v2/metadefs/namespaces?visibility=shared'), 400);
    await expectStatus(call('GET', `/v2/metadefs/namespaces?marker=${unique('none')}`), 404);
  });
});

describe(`metadef objects, properties and tags on ${testDbKind()}`, () => {
  test('objects: create, list, show, rename, clash, delete', async () => {
    const name = unique('OS::Test::Obj');
    await createNamespace({ namespace: name });
    const body = { name: 'Memory', description: 'mem', required: ['size'], properties: { size: { title: 'Size', type: 'integer', minimum: 0 } } };
    const created = (await expectStatus(call('POST', ns(name, '/objects'), ADMIN, body), 201)).body;
    assert.deepEqual({ ...created, created_at: 0, updated_at: 0 }, {
      ...body,
      properties: { size: { type: 'integer', title: 'Size', minimum: 0 } },
      created_at: 0,
      updated_at: 0,
      self: `/v2/metadefs/namespaces/${name}/objects/Memory`,
      schema: '/v2/schemas/metadefs/object',
    });
    await expectStatus(call('POST', ns(name, '/objects'), ADMIN, body), 409);
    await expectStatus(call('POST', ns(name, '/objects'), ADMIN, { name: 'Bad', properties: { x: { title: 'X' } } }), 400);
    await expectStatus(call('POST', ns(name, '/objects'), ADMIN, { name: 'Bad', self: 'x' }), 403);
    await expectStatus(call('POST', ns(name, '/objects'), ADMIN, { description: 'no name' }), 400);
    await expectStatus(call('POST', ns(name, '/objects'), ADMIN, { name: 'Other' }), 201);
    const list = (await expectStatus(call('GET', ns(name, '/objects')), 200)).body;
    assert.equal(list.schema, 'v2/schemas/metadefs/objects');
    assert.deepEqual(list.objects.map((o: { name: string }) => o.name).sort(), ['Memory', 'Other']);
    assert.equal((await expectStatus(call('GET', ns(name, '/objects/Memory')), 200)).body.description, 'mem');
    await expectStatus(call('PUT', ns(name, '/objects/Memory'), ADMIN, { name: 'Other' }), 409);
    const renamed = (await expectStatus(call('PUT', ns(name, '/objects/Memory'), ADMIN, { name: 'RAM' }), 200)).body;
    assert.equal(renamed.name, 'RAM');
    assert.equal(renamed.description, undefined, 'a full replacement');
    await expectStatus(call('GET', ns(name, '/objects/Memory')), 404);
    await expectStatus(call('DELETE', ns(name, '/objects/RAM')), 204);
    await expectStatus(call('DELETE', ns(name, '/objects/RAM')), 404);
    await expectStatus(call('GET', ns(name, '/objects?sort_dir=sideways')), 400);
  });

  test('properties: create, list (a map), show (with and without a resource type prefix), rename, clash, delete', async () => {
    const name = unique('OS::Test::Prop');
    const rt = unique('OS::Prop::Type');
    await createNamespace({ namespace: name, resource_type_associations: [{ name: rt, prefix: 'hw:' }] });
    const body = { name: 'cpu_policy', title: 'CPU policy', type: 'string', enum: ['shared', 'dedicated'], default: 'shared', description: 'How' };
    const created = (await expectStatus(call('POST', ns(name, '/properties'), ADMIN, body), 201)).body;
    assert.deepEqual(created, { name: 'cpu_policy', type: 'string', title: 'CPU policy', description: 'How', default: 'shared', enum: ['shared', 'dedicated'] });
    await expectStatus(call('POST', ns(name, '/properties'), ADMIN, body), 409);
    await expectStatus(call('POST', ns(name, '/properties'), ADMIN, { title: 'T', type: 'string' }), 400);
    await expectStatus(call('POST', ns(name, '/properties'), ADMIN, { name: 'x', title: 'T', type: 'string', extra: 1 }), 400);
    await expectStatus(call('POST', ns(name, '/properties'), ADMIN, { name: 'x', title: 'T', type: 'string', created_at: 'now' }), 403);
    await expectStatus(call('POST', ns(name, '/properties'), ADMIN, { name: 'count', title: 'Count', type: 'integer', minimum: 1, maximum: 8 }), 201);
    const list = (await expectStatus(call('GET', ns(name, '/properties')), 200)).body;
    assert.deepEqual(Object.keys(list.properties).sort(), ['count', 'cpu_policy']);
    assert.equal(list.properties.count.maximum, 8);
    assert.equal((await expectStatus(call('GET', ns(name, '/properties/cpu_policy')), 200)).body.name, 'cpu_policy');
    assert.equal((await expectStatus(call('GET', `${ns(name, '/properties/hw:cpu_policy')}?resource_type=${encodeURIComponent(rt)}`), 200)).body.name, 'cpu_policy');
    await expectStatus(call('GET', `${ns(name, '/properties/cpu_policy')}?resource_type=${encodeURIComponent(rt)}`), 404);
    await expectStatus(call('GET', `${ns(name, '/properties/hw:cpu_policy')}?resource_type=${unique('OS::None')}`), 404);
    await expectStatus(call('PUT', ns(name, '/properties/cpu_policy'), ADMIN, { name: 'count', title: 'T', type: 'string' }), 409);
    const renamed = (await expectStatus(call('PUT', ns(name, '/properties/cpu_policy'), ADMIN, { name: 'policy', title: 'Policy', type: 'boolean' }), 200)).body;
    assert.deepEqual(renamed, { name: 'policy', type: 'boolean', title: 'Policy' });
    await expectStatus(call('GET', ns(name, '/properties/cpu_policy')), 404);
    await expectStatus(call('DELETE', ns(name, '/properties/policy')), 204);
    await expectStatus(call('DELETE', ns(name, '/properties/policy')), 404);
  });

  test('tags: one from its URL, replace all or append, pages, rename, clash, delete', async () => {
    const name = unique('OS::Test::Tags');
    await createNamespace({ namespace: name });
    const one = (await expectStatus(call('POST', ns(name, '/tags/first')), 201)).body;
    assert.equal(one.name, 'first');
    assert.match(one.created_at, TIMESTAMP);
    await expectStatus(call('POST', ns(name, '/tags/first')), 409);
    await expectStatus(call('POST', ns(name, `/tags/${'x'.repeat(81)}`)), 400);
    const tagNames = async (q = '') => (await expectStatus(call('GET', ns(name, `/tags${q}`)), 200)).body.tags.map((t: { name: string }) => t.name);

    const replaced = await expectStatus(call('POST', ns(name, '/tags'), ADMIN, { tags: [{ name: 'c' }, { name: 'a' }] }), 201);
    assert.deepEqual(replaced.body, { tags: [{ name: 'c' }, { name: 'a' }] });
    assert.deepEqual((await tagNames('?sort_key=name&sort_dir=asc')), ['a', 'c']);
    await expectStatus(api(server.url, 'POST', ns(name, '/tags'), { headers: { ...ADMIN, 'x-openstack-append': 'True' }, json: { tags: [{ name: 'b' }, { name: 'd' }] } }), 201);
    assert.deepEqual(await tagNames('?sort_key=name&sort_dir=asc'), ['a', 'b', 'c', 'd']);
    // A duplicate within the request, or with a kept tag: 409, nothing changed.
    await expectStatus(api(server.url, 'POST', ns(name, '/tags'), { headers: { ...ADMIN, 'x-openstack-append': 'true' }, json: { tags: [{ name: 'a' }] } }), 409);
    await expectStatus(call('POST', ns(name, '/tags'), ADMIN, { tags: [{ name: 'z' }, { name: 'z' }] }), 409);
    assert.deepEqual(await tagNames('?sort_key=name&sort_dir=asc'), ['a', 'b', 'c', 'd']);
    await expectStatus(call('POST', ns(name, '/tags'), ADMIN, { tags: [{ name: 'x', extra: 1 }] }), 400);
    await expectStatus(call('POST', ns(name, '/tags'), ADMIN, { tags: [{}] }), 400);

    assert.deepEqual(await tagNames('?sort_key=name&sort_dir=asc&limit=2'), ['a', 'b']);
    assert.deepEqual(await tagNames('?sort_key=name&sort_dir=asc&limit=2&marker=b'), ['c', 'd']);
    assert.deepEqual(await tagNames('?sort_key=name&sort_dir=desc&limit=3'), ['d', 'c', 'b']);
    await expectStatus(call('GET', ns(name, '/tags?marker=nope')), 404);
    await expectStatus(call('GET', ns(name, '/tags?sort_key=colour')), 400);

    await expectStatus(call('PUT', ns(name, '/tags/a'), ADMIN, { name: 'b' }), 409);
    const renamed = (await expectStatus(call('PUT', ns(name, '/tags/a'), ADMIN, { name: 'aa' }), 200)).body;
    assert.equal(renamed.name, 'aa');
    await expectStatus(call('PUT', ns(name, '/tags/aa'), ADMIN, { name: 'ab', created_at: 'x' }), 403);
    assert.equal((await expectStatus(call('GET', ns(name, '/tags/aa')), 200)).body.name, 'aa');
    await expectStatus(call('GET', ns(name, '/tags/a')), 404);
    await expectStatus(call('DELETE', ns(name, '/tags/aa')), 204);
    await expectStatus(call('DELETE', ns(name, '/tags/aa')), 404);
  });

  test('resource types: the list, associations (a new type created on first use), clash, dissociation', async () => {
    const name = unique('OS::Test::RT');
    const rt = unique('OS::Cinder::Volume');
    await createNamespace({ namespace: name });
    const assoc = (await expectStatus(call('POST', ns(name, '/resource_types'), ADMIN, { name: rt, prefix: 'vol_', properties_target: 'image' }), 201)).body;
    assert.equal(assoc.name, rt);
    assert.equal(assoc.prefix, 'vol_');
    assert.match(assoc.created_at, TIMESTAMP);
    await expectStatus(call('POST', ns(name, '/resource_types'), ADMIN, { name: rt }), 409);
    await expectStatus(call('POST', ns(name, '/resource_types'), ADMIN, { prefix: 'x' }), 400);
    await expectStatus(call('POST', ns(name, '/resource_types'), ADMIN, { name: rt, created_at: 'x' }), 403);
    const types = (await expectStatus(call('GET', '/v2/metadefs/resource_types', reader('anyone')), 200)).body.resource_types;
    const listed = types.find((t: { name: string }) => t.name === rt);
    assert.deepEqual(Object.keys(listed).sort(), ['created_at', 'name', 'updated_at']);
    const associations = (await expectStatus(call('GET', ns(name, '/resource_types')), 200)).body.resource_type_associations;
    assert.deepEqual(associations.map((a: { name: string; properties_target: string }) => [a.name, a.properties_target]), [[rt, 'image']]);
    await expectStatus(call('DELETE', ns(name, `/resource_types/${encodeURIComponent(rt)}`)), 204);
    await expectStatus(call('DELETE', ns(name, `/resource_types/${encodeURIComponent(rt)}`)), 404);
    assert.deepEqual((await call('GET', ns(name, '/resource_types'))).body.resource_type_associations, []);
    // The type itself stays.
    assert.ok((await call('GET', '/v2/metadefs/resource_types')).body.resource_types.some((t: { name: string }) => t.name === rt));
  });

  test('the ten schemas', async () => {
    const expected: Record<string, string> = {
      namespace: 'namespace',
      namespaces: 'namespaces',
      resource_type: 'resource_type_association',
      resource_types: 'resource_type_associations',
      property: 'property',
      properties: 'properties',
      object: 'object',
      objects: 'objects',
      tag: 'tag',
      tags: 'tags',
    };
    for (const [p, schemaName] of Object.entries(expected)) {
      const s = (await expectStatus(call('GET', `/v2/schemas/metadefs/${p}`), 200)).body;
      assert.equal(s.name, schemaName);
    }
    const namespace = (await call('GET', '/v2/schemas/metadefs/namespace')).body;
    assert.equal(namespace.additionalProperties, false);
    assert.deepEqual(namespace.required, ['namespace']);
    assert.ok(namespace.definitions.property);
    const properties = (await call('GET', '/v2/schemas/metadefs/properties')).body;
    assert.deepEqual(properties.properties.properties.additionalProperties.required, ['type', 'title']);
    assert.equal(properties.properties.properties.additionalProperties.definitions, undefined);
  });
});

describe('an operator policy file over the metadef rules', () => {
  let s: TestServer;
  before(async () => {
    const file = path.join(tempDir(), 'policy.yaml');
    fs.writeFileSync(file, '"add_metadef_namespace": "role:member"\n"get_metadef_namespace": "role:admin"\n');
    s = await startServer([{ section: 'oslo_policy', name: 'policy_file', value: file }]);
  });
  after(async () => s.close());

  test('overrides the defaults by name', async () => {
    const p = unique('proj');
    const name = unique('OS::Test::Policy');
    assert.equal((await api(s.url, 'POST', '/v2/metadefs/namespaces', { headers: member(p), json: { namespace: name, visibility: 'public' } })).status, 201);
    // Seen by no one but admins now: 404 (never 403) for the others.
    assert.equal((await api(s.url, 'GET', ns(name), { headers: member(p) })).status, 404);
    assert.equal((await api(s.url, 'GET', ns(name), { headers: ADMIN })).status, 200);
  });
});

const rabbitDown = await rabbitUnavailable();

describe('metadef notifications on RabbitMQ', { skip: rabbitDown }, () => {
  const tag = randomBytes(4).toString('hex');
  const exchange = `ocellus_test_${tag}`;
  const topic = `ocellus_test_${tag}`;
  let s: TestServer;
  let consumer: Consumer;
  before(async () => {
    consumer = await Consumer.bind(exchange, `${topic}.*`);
    s = await startServer([
      { section: 'oslo_messaging_notifications', name: 'driver', value: 'messagingv2' },
      { section: 'oslo_messaging_notifications', name: 'transport_url', value: `rabbit://guest:guest@${RABBIT_HOST}:${RABBIT_PORT}/` },
      { section: 'oslo_messaging_notifications', name: 'topics', value: topic },
      { section: 'DEFAULT', name: 'control_exchange', value: exchange },
    ]);
  });
  after(async () => {
    await s?.close();
    await consumer?.close();
    await deleteOnBroker(exchange, [`${topic}.info`, `${topic}.error`]).catch(() => undefined);
  });

  test('each change sends its event, with Glance’s payload, in order', async () => {
    const name = unique('OS::Test::Events');
    const call2 = (method: string, p: string, json?: unknown) => api(s.url, method, p, { headers: ADMIN, json });
    assert.equal((await call2('POST', '/v2/metadefs/namespaces', { namespace: name, resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'x_' }], tags: [{ name: 't' }] })).status, 201);
    assert.equal((await call2('POST', ns(name, '/objects'), { name: 'o' })).status, 201);
    assert.equal((await call2('PUT', ns(name, '/objects/o'), { name: 'o2' })).status, 200);
    assert.equal((await call2('POST', ns(name, '/properties'), { name: 'p', title: 'P', type: 'string' })).status, 201);
    assert.equal((await call2('DELETE', ns(name, '/properties/p'))).status, 204);
    assert.equal((await call2('PUT', ns(name, '/tags/t'), { name: 't2' })).status, 200);
    assert.equal((await call2('DELETE', ns(name, '/tags'))).status, 204);
    assert.equal((await call2('DELETE', ns(name, '/resource_types/OS::Glance::Image'))).status, 204);
    assert.equal((await call2('PUT', ns(name), { namespace: `${name}-b` })).status, 200);
    assert.equal((await call2('DELETE', ns(`${name}-b`))).status, 204);
    const events = (await consumer.waitFor(12)).map(eventOf);
    assert.deepEqual(
      events.map((e) => e.event_type),
      [
        'metadef_namespace.create',
        'metadef_resource_type.create',
        'metadef_tag.create',
        'metadef_object.create',
        'metadef_object.update',
        'metadef_property.create',
        'metadef_property.delete',
        'metadef_tag.update',
        'metadef_namespace.delete_tags',
        'metadef_resource_type.delete',
        'metadef_namespace.update',
        'metadef_namespace.delete',
      ],
    );
    const [created, rt, , , objUpdate, prop, propDeleted, , , , nsUpdate, nsDelete] = events;
    assert.deepEqual(Object.keys(created!.payload).sort(), ['created_at', 'deleted', 'deleted_at', 'description', 'display_name', 'namespace', 'namespace_old', 'owner', 'protected', 'updated_at', 'visibility']);
    assert.equal(rt!.payload.prefix, 'x_');
    assert.equal(rt!.payload.namespace, name);
    assert.deepEqual([objUpdate!.payload.name, objUpdate!.payload.name_old, objUpdate!.payload.namespace], ['o2', 'o', name]);
    assert.equal(prop!.payload.title, 'P');
    assert.equal(propDeleted!.payload.deleted, true);
    assert.deepEqual([nsUpdate!.payload.namespace, nsUpdate!.payload.namespace_old], [`${name}-b`, name]);
    assert.equal(nsDelete!.payload.deleted, true);
    assert.match(nsDelete!.payload.deleted_at as string, TIMESTAMP);
  });
});
