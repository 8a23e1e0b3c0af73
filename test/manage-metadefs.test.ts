import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { openDatabase } from '../src/db/connect.js';
import { loadMetadefs, MetadefLoadOptionsError, type FileResult } from '../src/cli/metadef-files-io.js';
import { readCatalogue, unloadMetadefs } from '../src/db/metadef-catalogue-io.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { exportFileName } from '../src/domain/metadef-files.js';
import type { Database } from '../src/db/tables.js';
import { admin, api, member, startServer, tempDir } from './support/harness.js';
import { freshDatabase, manageCli, writeDbConfig } from './support/db-tools.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * `ocellus manage db load_metadefs / unload_metadefs / export_metadefs` on each database: Glance's
 * own definition files (Debian's glance-common) load, load again without a change, and export back
 * to the same definitions; a malformed file is named with its field and leaves nothing behind
 * while the others load; --merge, --prefer-new and --overwrite do what Glance's loader does.
 */

const DEBIAN_METADEFS = '/usr/share/glance-common/metadefs';
const debianFiles = fs.existsSync(DEBIAN_METADEFS) ? fs.readdirSync(DEBIAN_METADEFS).filter((f) => f.endsWith('.json')).sort() : [];
const missing = debianFiles.length === 0 ? `${DEBIAN_METADEFS} is absent: \`apt-get install -y glance-common\` (scripts/install-test-deps.sh does it) enables these tests` : undefined;
if (missing && process.env.CI) test("Glance's definition files (glance-common) installed", () => assert.fail(`CI is set but ${missing}`));

type Json = Record<string, unknown>;
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Json;

/** A definition file with Glance's defaults made explicit; resource type associations by name (their order carries no meaning). */
function normalised(doc: Json): Json {
  const orNull = (v: unknown) => v ?? null;
  return {
    namespace: doc.namespace,
    display_name: orNull(doc.display_name),
    description: orNull(doc.description),
    visibility: doc.visibility ?? 'private',
    protected: doc.protected ?? false,
    owner: doc.owner ?? 'admin',
    resource_type_associations: ((doc.resource_type_associations ?? []) as Json[])
      .map((a) => ({ name: a.name, prefix: orNull(a.prefix), properties_target: orNull(a.properties_target) }))
      .sort((a, b) => String(a.name).localeCompare(String(b.name))),
    properties: doc.properties ?? {},
    objects: ((doc.objects ?? []) as Json[]).map((o) => ({ name: o.name, description: orNull(o.description), ...(o.required ? { required: o.required } : {}), properties: o.properties ?? {} })),
    tags: ((doc.tags ?? []) as Json[]).map((t) => ({ name: t.name })),
  };
}

const TABLES = ['metadef_namespaces', 'metadef_resource_types', 'metadef_namespace_resource_types', 'metadef_properties', 'metadef_objects', 'metadef_tags'] as const;

/** Every row of every metadefs table, in a stable order. */
async function rows(db: Kysely<Database>): Promise<Record<string, unknown[]>> {
  const all: Record<string, unknown[]> = {};
  for (const t of TABLES) {
    const r = await db.selectFrom(t).selectAll().execute();
    all[t] = r.map((x) => JSON.stringify(x)).sort();
  }
  return all;
}

async function counts(db: Kysely<Database>): Promise<Record<string, number>> {
  const c: Record<string, number> = {};
  for (const t of TABLES) c[t] = (await db.selectFrom(t).selectAll().execute()).length;
  return c;
}

const outcomes = (results: FileResult[]) => Object.fromEntries(results.map((r) => [r.file, 'error' in r ? `error: ${r.error.message}` : r.outcome]));

test("export file names: Glance's (the display name's letters and digits), numbered on a clash instead of overwriting", () => {
  const taken = new Set<string>();
  assert.equal(exportFileName({ namespace: 'OS::Compute::Libvirt', display_name: 'libvirt Driver Options' }, taken), 'libvirtDriverOptions.json');
  assert.equal(exportFileName({ namespace: 'X::Y', display_name: 'libvirt-Driver_Options!' }, taken), 'libvirtDriverOptions-2.json');
  assert.equal(exportFileName({ namespace: 'OCELLUS::Näme', display_name: null }, taken), 'OCELLUSNäme.json');
  assert.equal(exportFileName({ namespace: '::', display_name: '__' }, taken), 'namespace.json');
});

describe('metadefs definition files', { skip: missing }, () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: Kysely<Database>;
  let config: string;
  before(async () => {
    database = await freshDatabase();
    db = openDatabase(database.url);
    await migrateToLatest(db);
    config = writeDbConfig(database.dir, database.url);
  });
  after(async () => {
    await db?.destroy();
    await database?.drop();
  });

  test("Debian's 33 files load through the CLI, load again without a change, and export back to the same definitions", async () => {
    assert.equal(debianFiles.length, 33, `files in ${DEBIAN_METADEFS}`);
    const first = await manageCli(['--config', config, 'db', 'load_metadefs', '--path', DEBIAN_METADEFS]);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /^33 file\(s\): 33 created$/m);
    assert.match(first.stdout, /^compute-watchdog\.json: namespace OS::Compute::Watchdog created$/m);
    const loaded = await rows(db);
    assert.equal(loaded.metadef_namespaces!.length, 33);
    assert.ok(loaded.metadef_properties!.length > 100 && loaded.metadef_objects!.length > 20, 'properties and objects loaded');

    // Glance's legacy spelling, the path as a positional.
    const again = await manageCli(['--config', config, 'db_load_metadefs', DEBIAN_METADEFS]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /^33 file\(s\): 33 skipped$/m);
    assert.deepEqual(await rows(db), loaded, 'loading twice leaves every row as it was');
    // --merge without new content changes nothing either.
    assert.deepEqual(new Set(Object.values(outcomes(await loadMetadefs(db, DEBIAN_METADEFS, { merge: true })))), new Set(['merged']));
    assert.deepEqual(await rows(db), loaded);

    const out = path.join(tempDir('ocellus-metadefs-export-'), 'export');
    const exported = await manageCli(['--config', config, 'db', 'export_metadefs', '--path', out]);
    assert.equal(exported.status, 0, exported.stderr);
    const files = fs.readdirSync(out).sort();
    assert.equal(files.length, 33);
    // Glance's file names: the display name, letters and digits only.
    assert.ok(files.includes('WatchdogBehavior.json') && files.includes('libvirtDriverOptionsforImages.json'), files.join(' '));
    const byNamespace = new Map(files.map((f) => readJson(path.join(out, f))).map((d) => [d.namespace, d]));
    for (const f of debianFiles) {
      const original = readJson(path.join(DEBIAN_METADEFS, f));
      const back = byNamespace.get(original.namespace);
      assert.ok(back, `${f}: namespace ${String(original.namespace)} exported`);
      assert.deepEqual(normalised(back), normalised(original), f);
    }

    // The export is a set of definition files itself: unloaded and loaded from it, the catalogue is the same.
    const before = await readCatalogue(db);
    const unloaded = await manageCli(['--config', config, 'db', 'unload_metadefs']);
    assert.equal(unloaded.status, 0, unloaded.stderr);
    assert.match(unloaded.stdout, /removed 33 namespace\(s\) and \d+ resource type\(s\)/);
    assert.deepEqual(Object.values(await counts(db)), [0, 0, 0, 0, 0, 0]);
    assert.deepEqual(new Set(Object.values(outcomes(await loadMetadefs(db, out)))), new Set(['created']));
    const sortAssociations = (c: typeof before) => c.map((n) => ({ ...n, resource_type_associations: [...n.resource_type_associations].sort((a, b) => a.name.localeCompare(b.name)) })).sort((a, b) => a.namespace.localeCompare(b.namespace));
    assert.deepEqual(sortAssociations(await readCatalogue(db)), sortAssociations(before));
  });

  describe('with files of its own', () => {
    const dir = tempDir('ocellus-metadefs-');
    const write = (name: string, doc: unknown) => {
      fs.mkdirSync(path.join(dir, path.dirname(name)), { recursive: true });
      fs.writeFileSync(path.join(dir, name), typeof doc === 'string' ? doc : JSON.stringify(doc));
      return path.join(dir, name);
    };
    const property = (title: string) => ({ title, type: 'string' });

    test('a malformed file is reported with its name and field, and nothing of it loads while the others do', async () => {
      await unloadMetadefs(db);
      const good = (ns: string) => ({ namespace: ns, visibility: 'public', resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'x_' }], properties: { a: property('A') }, tags: [{ name: 't' }] });
      write('bad/a-good.json', good('OCELLUS::Good1'));
      // Everything valid up to a bad type deep in an object's property: the namespace and its new resource type must not appear.
      write('bad/b-bad-type.json', {
        namespace: 'OCELLUS::Bad',
        resource_type_associations: [{ name: 'OCELLUS::OnlyInBadFile' }],
        properties: { fine: property('Fine') },
        objects: [{ name: 'o1', properties: { p: property('P') } }, { name: 'o2', properties: { p: { title: 'P', type: 'text' } } }],
      });
      write('bad/c-long-tag.json', { namespace: 'OCELLUS::BadTag', tags: [{ name: 'ok' }, { name: 'x'.repeat(81) }] });
      write('bad/d-not-json.json', '{"namespace": "OCELLUS::Broken",');
      write('bad/e-no-namespace.json', { display_name: 'Nameless' });
      write('bad/f-duplicate.json', { namespace: 'OCELLUS::Dup', objects: [{ name: 'o' }, { name: 'o' }] });
      write('bad/g-unknown-field.json', { namespace: 'OCELLUS::Typo', propertes: {} });
      write('bad/h-good.json', good('OCELLUS::Good2'));
      write('bad/i-long-property-name.json', { namespace: 'OCELLUS::LongName', objects: [{ name: 'o', properties: { ['p'.repeat(81)]: property('P') } }] });
      // The API's namespace schema applies: its 500-character description.
      write('bad/j-long-description.json', { namespace: 'OCELLUS::Wordy', description: 'd'.repeat(501) });
      // Glance's exports write null for an absent prefix: that loads.
      write('bad/k-nulls.json', { ...good('OCELLUS::Nulls'), display_name: null, resource_type_associations: [{ name: 'OS::Glance::Image', prefix: null, properties_target: null }] });
      const results = outcomes(await loadMetadefs(db, path.join(dir, 'bad')));
      assert.deepEqual(results, {
        'a-good.json': 'created',
        'b-bad-type.json': 'error: b-bad-type.json: field objects[1].properties.p.type: must be one of "array", "boolean", "integer", "number", "object", "string", null',
        'c-long-tag.json': 'error: c-long-tag.json: field tags[1].name: must NOT have more than 80 characters',
        'd-not-json.json': results['d-not-json.json'],
        'e-no-namespace.json': 'error: e-no-namespace.json: field namespace: is required',
        'f-duplicate.json': "error: f-duplicate.json: field objects[1].name: duplicates the name 'o'",
        'g-unknown-field.json': 'error: g-unknown-field.json: field propertes: is not a field of a metadefs namespace file',
        'h-good.json': 'created',
        'i-long-property-name.json': `error: i-long-property-name.json: field objects[0].properties.${'p'.repeat(81)}: is not a valid property name (1 to 80 characters)`,
        'j-long-description.json': 'error: j-long-description.json: field description: must NOT have more than 500 characters',
        'k-nulls.json': 'created',
      });
      assert.match(results['d-not-json.json']!, /^error: d-not-json\.json: is not valid JSON/);
      const namespaces = (await db.selectFrom('metadef_namespaces').select('namespace').orderBy('namespace').execute()).map((r) => r.namespace);
      assert.deepEqual(namespaces, ['OCELLUS::Good1', 'OCELLUS::Good2', 'OCELLUS::Nulls']);
      assert.deepEqual((await db.selectFrom('metadef_resource_types').select('name').execute()).map((r) => r.name), ['OS::Glance::Image']);
      assert.deepEqual(await counts(db), { metadef_namespaces: 3, metadef_resource_types: 1, metadef_namespace_resource_types: 3, metadef_properties: 3, metadef_objects: 0, metadef_tags: 3 });

      // The CLI says it on stderr and exits 1 (the good files load all the same).
      const cli = await manageCli(['--config', config, 'db', 'load_metadefs', '--path', path.join(dir, 'bad')]);
      assert.equal(cli.status, 1);
      assert.match(cli.stderr, /^error: b-bad-type\.json: field objects\[1\]\.properties\.p\.type: must be one of .*; nothing of it was loaded$/m);
      assert.match(cli.stdout, /^11 file\(s\): 3 skipped, 8 failed$/m);
    });

    test('--merge adds, --prefer-new also replaces, --overwrite starts afresh; an existing namespace is skipped otherwise', async () => {
      await unloadMetadefs(db);
      const ns = 'OCELLUS::Merging';
      const original = write('merge/v1.json', {
        namespace: ns,
        display_name: 'First',
        visibility: 'private',
        owner: 'project-a',
        resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'a_' }],
        properties: { p1: property('one'), p2: property('two') },
        objects: [{ name: 'o1', description: 'first', properties: { x: property('X') } }],
        tags: [{ name: 't1' }],
      });
      const newer = write('merge/v2.json', {
        namespace: ns,
        display_name: 'Second',
        visibility: 'public',
        protected: true,
        resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'b_' }, { name: 'OS::Nova::Flavor', prefix: 'b:' }],
        properties: { p1: property('one, newer'), p3: property('three') },
        objects: [{ name: 'o1', description: 'newer', required: ['x'], properties: { x: property('X2') } }, { name: 'o2', properties: {} }],
        tags: [{ name: 't1' }, { name: 't2' }],
      });
      const catalogue = async () => {
        const [def] = (await readCatalogue(db)).filter((d) => d.namespace === ns);
        assert.ok(def);
        return { ...def, resource_type_associations: [...def.resource_type_associations].sort((a, b) => a.name.localeCompare(b.name)) };
      };
      const load = async (file: string, options: Parameters<typeof loadMetadefs>[2]) => outcomes(await loadMetadefs(db, file, options));

      assert.deepEqual(await load(original, {}), { 'v1.json': 'created' });
      const v1 = await catalogue();
      assert.deepEqual(await load(newer, {}), { 'v2.json': 'skipped' });
      assert.deepEqual(await catalogue(), v1);

      assert.deepEqual(await load(newer, { merge: true }), { 'v2.json': 'merged' });
      const merged = await catalogue();
      assert.deepEqual(
        { display_name: merged.display_name, visibility: merged.visibility, owner: merged.owner, protected: merged.protected },
        { display_name: 'First', visibility: 'private', owner: 'project-a', protected: false },
        'what exists is kept',
      );
      assert.deepEqual(merged.resource_type_associations, [
        { name: 'OS::Glance::Image', prefix: 'a_', properties_target: null },
        { name: 'OS::Nova::Flavor', prefix: 'b:', properties_target: null },
      ]);
      assert.deepEqual(merged.properties, { p1: property('one'), p2: property('two'), p3: property('three') });
      assert.deepEqual(merged.objects, [
        { name: 'o1', description: 'first', required: null, properties: { x: property('X') } },
        { name: 'o2', description: null, required: null, properties: {} },
      ]);
      assert.deepEqual(merged.tags, [{ name: 't1' }, { name: 't2' }]);

      assert.deepEqual(await load(original, { merge: true, preferNew: true }), { 'v1.json': 'updated' });
      assert.deepEqual(await load(newer, { merge: true, preferNew: true }), { 'v2.json': 'updated' });
      const preferred = await catalogue();
      assert.deepEqual(
        { display_name: preferred.display_name, visibility: preferred.visibility, owner: preferred.owner, protected: preferred.protected },
        { display_name: 'Second', visibility: 'public', owner: 'admin', protected: true },
        "the file's version wins (its owner too: none given is Glance's admin)",
      );
      assert.equal(preferred.resource_type_associations[0]!.prefix, 'b_');
      assert.deepEqual(preferred.properties, { p1: property('one, newer'), p2: property('two'), p3: property('three') }, 'nothing is removed by a merge');
      assert.deepEqual(preferred.objects[0], { name: 'o1', description: 'newer', required: ['x'], properties: { x: property('X2') } });

      assert.deepEqual(await load(original, { merge: true, overwrite: true }), { 'v1.json': 'overwritten' });
      assert.deepEqual(await catalogue(), { ...v1 }, 'overwritten = exactly the file again');
      assert.deepEqual(await counts(db), { metadef_namespaces: 1, metadef_resource_types: 2, metadef_namespace_resource_types: 1, metadef_properties: 2, metadef_objects: 1, metadef_tags: 1 });

      await assert.rejects(loadMetadefs(db, original, { preferNew: true }), MetadefLoadOptionsError);
      await assert.rejects(loadMetadefs(db, original, { merge: true, preferNew: true, overwrite: true }), MetadefLoadOptionsError);
      const refused = await manageCli(['--config', config, 'db', 'load_metadefs', '--path', original, '--overwrite']);
      assert.equal(refused.status, 2);
      assert.match(refused.stderr, /--prefer-new and --overwrite only go with --merge/);
    });

    test('two loaders at once: each file is created by one of them and skipped by the other, none fails', async () => {
      await unloadMetadefs(db);
      // Two processes, as two operators (or two deployment scripts) would run them.
      const runs = await Promise.all([0, 1].map(() => manageCli(['--config', config, 'db', 'load_metadefs', '--path', DEBIAN_METADEFS])));
      const seen = new Map<string, string[]>();
      for (const run of runs) {
        assert.equal(run.status, 0, run.stderr);
        for (const m of run.stdout.matchAll(/^(\S+\.json): namespace \S+ (\w+)$/gm)) seen.set(m[1]!, [...(seen.get(m[1]!) ?? []), m[2]!].sort());
      }
      assert.deepEqual([...seen.keys()].sort(), debianFiles);
      for (const [file, pair] of seen) assert.deepEqual(pair, ['created', 'skipped'], file);
      assert.equal((await counts(db)).metadef_namespaces, 33);
      await unloadMetadefs(db);
    });

    test('unload_metadefs removes every namespace and resource type', async () => {
      await loadMetadefs(db, path.join(dir, 'merge', 'v1.json'));
      assert.ok((await counts(db)).metadef_namespaces > 0);
      assert.deepEqual(await unloadMetadefs(db), { namespaces: 1, resourceTypes: 1 });
      assert.deepEqual(Object.values(await counts(db)), [0, 0, 0, 0, 0, 0]);
    });
  });

  test('what loads is what the API serves (the namespace, its properties and objects; visibility as Glance has it)', async () => {
    const server = await startServer();
    try {
      const loaded = await loadMetadefs(server.service.db, DEBIAN_METADEFS);
      assert.equal(loaded.filter((r) => 'outcome' in r && r.outcome === 'created').length, 33);
      for (const [file, name] of [['compute-watchdog.json', 'OS::Compute::Watchdog'], ['software-databases.json', 'OS::Software::DBMS']] as const) {
        const original = normalised(readJson(path.join(DEBIAN_METADEFS, file)));
        const res = await api(server.url, 'GET', `/v2/metadefs/namespaces/${encodeURIComponent(name)}`, { headers: admin() });
        assert.equal(res.status, 200, res.text);
        const body = res.body as Json;
        for (const key of ['namespace', 'display_name', 'description', 'visibility', 'protected', 'owner'] as const) assert.deepEqual(body[key], original[key], `${file}: ${key}`);
        assert.deepEqual(body.properties ?? {}, original.properties, `${file}: properties`);
        const objects = ((body.objects ?? []) as Json[]).map((o) => ({ name: o.name, description: o.description ?? null, properties: o.properties ?? {} }));
        assert.deepEqual(objects, original.objects, `${file}: objects`);
        const associations = ((body.resource_type_associations ?? []) as Json[]).map((a) => ({ name: a.name, prefix: a.prefix ?? null, properties_target: a.properties_target ?? null })).sort((a, b) => String(a.name).localeCompare(String(b.name)));
        assert.deepEqual(associations, original.resource_type_associations, `${file}: resource_type_associations`);
      }
      // A file without visibility (operating-system.json) is, as in Glance, seen by its owner (admin) and admins only.
      const someone = member('metadefs-reader');
      assert.equal((await api(server.url, 'GET', `/v2/metadefs/namespaces/${encodeURIComponent('OS::OperatingSystem')}`, { headers: someone })).status, 404);
      assert.equal((await api(server.url, 'GET', `/v2/metadefs/namespaces/${encodeURIComponent('OS::Compute::Watchdog')}`, { headers: someone })).status, 200);
      const types = await api(server.url, 'GET', '/v2/metadefs/resource_types', { headers: admin() });
      assert.equal(types.status, 200, types.text);
      assert.ok(((types.body as Json).resource_types as Json[]).some((t) => t.name === 'OS::Glance::Image'), types.text);
    } finally {
      await server.close();
    }
  });
});
