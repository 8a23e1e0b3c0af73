import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { spawnServer, type ChildServer } from './support/child-server.js';
import { glanceEnv, parseShow, parseTable, requireTools, runGlance } from './support/glance-cli.js';
import { tempDir } from './support/harness.js';

/**
 * The metadefs catalogue through the real Debian `glance md-*` commands (python3-glanceclient,
 * which reads the /v2/schemas/metadefs/* schemas to build and check its requests): namespaces,
 * resource type associations, properties, objects and tags, created, listed, shown, updated and
 * deleted. If a command fails, the server is wrong, not the client.
 */

const skipReason = requireTools(['glance'], 'python3-glanceclient');

describe('the glance md-* commands', { skip: skipReason }, () => {
  let server: ChildServer;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const glance = (args: string[]) => runGlance(server.url, args, { env, cwd: work, token: server.adminToken! });

  async function ok(...args: string[]): Promise<string> {
    const r = await glance(args);
    assert.equal(r.code, 0, `glance ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  before(async () => {
    server = await spawnServer(tempDir('ocellus-glance-md-data-'));
    work = tempDir('ocellus-glance-md-');
    env = glanceEnv(work);
  });
  after(async () => {
    await server?.stop();
  });

  test('namespaces: create, list, show, update (rename), import, delete', async () => {
    const created = parseShow(await ok('md-namespace-create', 'OS::Cli::Test', '--display-name', 'CLI test', '--description', 'made by glance', '--visibility', 'public'));
    assert.equal(created.namespace, 'OS::Cli::Test');
    assert.equal(created.display_name, 'CLI test');
    assert.equal(created.visibility, 'public');
    const listed = parseTable(await ok('md-namespace-list'));
    assert.ok(listed.some(([n]) => n === 'OS::Cli::Test'), JSON.stringify(listed));
    const shown = parseShow(await ok('md-namespace-show', 'OS::Cli::Test'));
    assert.equal(shown.description, 'made by glance');
    const updated = parseShow(await ok('md-namespace-update', 'OS::Cli::Test', '--namespace', 'OS::Cli::Renamed', '--display-name', 'renamed', '--protected', 'True'));
    assert.equal(updated.namespace, 'OS::Cli::Renamed');
    assert.equal(updated.protected, 'True');
    const refused = await glance(['md-namespace-delete', 'OS::Cli::Renamed']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr + refused.stdout, /protected/);
    await ok('md-namespace-update', 'OS::Cli::Renamed', '--protected', 'False');
    await ok('md-namespace-delete', 'OS::Cli::Renamed');
    assert.notEqual((await glance(['md-namespace-show', 'OS::Cli::Renamed'])).code, 0);

    // A namespace in Glance's definition-file format, with everything in it.
    const file = path.join(work, 'ns.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        namespace: 'OS::Cli::Imported',
        display_name: 'Imported',
        visibility: 'public',
        resource_type_associations: [{ name: 'OS::Glance::Image', prefix: 'hw_' }],
        properties: { watchdog_action: { title: 'Watchdog Action', type: 'string', enum: ['disabled', 'reset'] } },
        objects: [{ name: 'Watchdog', properties: { timeout: { title: 'Timeout', type: 'integer' } } }],
        tags: [{ name: 'imported' }],
      }),
    );
    const imported = parseShow(await ok('md-namespace-import', '--file', file));
    assert.equal(imported.namespace, 'OS::Cli::Imported');
    const detail = await ok('md-namespace-show', 'OS::Cli::Imported', '--resource-type', 'OS::Glance::Image');
    assert.match(detail, /hw_watchdog_action/);
  });

  test('resource types, properties, objects and tags', async () => {
    await ok('md-namespace-create', 'OS::Cli::Parts');
    const assoc = parseShow(await ok('md-resource-type-associate', 'OS::Cli::Parts', '--name', 'OS::Nova::Flavor', '--prefix', 'cli:'));
    assert.equal(assoc.prefix, 'cli:');
    assert.ok(parseTable(await ok('md-resource-type-list')).some(([n]) => n === 'OS::Nova::Flavor'));
    assert.deepEqual(parseTable(await ok('md-namespace-resource-type-list', 'OS::Cli::Parts')).map((r) => r[0]), ['OS::Nova::Flavor']);

    const prop = parseShow(await ok('md-property-create', 'OS::Cli::Parts', '--name', 'speed', '--title', 'Speed', '--schema', '{"type": "integer", "minimum": 1}'));
    assert.equal(prop.name, 'speed');
    assert.equal(prop.minimum, '1');
    assert.deepEqual(parseTable(await ok('md-property-list', 'OS::Cli::Parts')).map((r) => r[0]), ['speed']);
    assert.equal(parseShow(await ok('md-property-show', 'OS::Cli::Parts', 'speed')).title, 'Speed');
    const propUpdated = parseShow(await ok('md-property-update', 'OS::Cli::Parts', 'speed', '--name', 'rate', '--title', 'Rate', '--schema', '{"type": "number"}'));
    assert.equal(propUpdated.name, 'rate');
    await ok('md-property-delete', 'OS::Cli::Parts', 'rate');
    assert.deepEqual(parseTable(await ok('md-property-list', 'OS::Cli::Parts')), []);

    const obj = parseShow(await ok('md-object-create', 'OS::Cli::Parts', '--name', 'Disk', '--schema', '{"description": "a disk", "properties": {"size": {"title": "Size", "type": "integer"}}}'));
    assert.equal(obj.name, 'Disk');
    assert.deepEqual(parseTable(await ok('md-object-list', 'OS::Cli::Parts')).map((r) => r[0]), ['Disk']);
    assert.equal(parseShow(await ok('md-object-show', 'OS::Cli::Parts', 'Disk')).description, 'a disk');
    assert.equal(parseShow(await ok('md-object-property-show', 'OS::Cli::Parts', 'Disk', 'size')).title, 'Size');
    assert.equal(parseShow(await ok('md-object-update', 'OS::Cli::Parts', 'Disk', '--name', 'Volume')).name, 'Volume');
    await ok('md-object-delete', 'OS::Cli::Parts', 'Volume');
    assert.deepEqual(parseTable(await ok('md-object-list', 'OS::Cli::Parts')), []);

    assert.equal(parseShow(await ok('md-tag-create', 'OS::Cli::Parts', '--name', 'one')).name, 'one');
    assert.deepEqual(parseTable(await ok('md-tag-list', 'OS::Cli::Parts')).map((r) => r[0]), ['one']);
    // Without --append the tags replace the namespace's. (Debian's glanceclient 4.1 fails its own
    // --append before sending anything: it puts a boolean in the X-Openstack-Append header;
    // test/api-metadefs.test.ts covers appending.)
    await ok('md-tag-create-multiple', 'OS::Cli::Parts', '--names', 'two,three');
    assert.deepEqual(parseTable(await ok('md-tag-list', 'OS::Cli::Parts')).map((r) => r[0]).sort(), ['three', 'two']);
    await ok('md-tag-create-multiple', 'OS::Cli::Parts', '--names', 'four');
    assert.deepEqual(parseTable(await ok('md-tag-list', 'OS::Cli::Parts')).map((r) => r[0]), ['four']);
    assert.equal(parseShow(await ok('md-tag-update', 'OS::Cli::Parts', 'four', '--name', 'five')).name, 'five');
    assert.equal(parseShow(await ok('md-tag-show', 'OS::Cli::Parts', 'five')).name, 'five');
    await ok('md-tag-delete', 'OS::Cli::Parts', 'five');

    await ok('md-property-create', 'OS::Cli::Parts', '--name', 'p', '--title', 'P', '--schema', '{"type": "string"}');
    await ok('md-object-create', 'OS::Cli::Parts', '--name', 'O', '--schema', '{}');
    await ok('md-tag-create', 'OS::Cli::Parts', '--name', 't');
    await ok('md-namespace-properties-delete', 'OS::Cli::Parts');
    await ok('md-namespace-objects-delete', 'OS::Cli::Parts');
    await ok('md-namespace-tags-delete', 'OS::Cli::Parts');
    assert.deepEqual(parseTable(await ok('md-property-list', 'OS::Cli::Parts')), []);
    assert.deepEqual(parseTable(await ok('md-object-list', 'OS::Cli::Parts')), []);
    assert.deepEqual(parseTable(await ok('md-tag-list', 'OS::Cli::Parts')), []);

    await ok('md-resource-type-deassociate', 'OS::Cli::Parts', 'OS::Nova::Flavor');
    assert.deepEqual(parseTable(await ok('md-namespace-resource-type-list', 'OS::Cli::Parts')), []);
    await ok('md-namespace-delete', 'OS::Cli::Parts');
  });
});
