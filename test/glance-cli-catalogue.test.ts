import assert from 'node:assert/strict';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { glanceEnv, parseShow, parseTable, requireTools, runGlance } from './support/glance-cli.js';
import path from 'node:path';
import { spawnServer, type ChildServer } from './support/child-server.js';
import { api, tempDir, upload } from './support/harness.js';

/**
 * The catalogue through the real Debian `glance` CLI (python3-glanceclient): image-list filters,
 * sorting and paging, tags and members. The server runs the default flavor with a
 * `[token_auth] token_file`: the CLI's caller is the admin token, the projects' members call with
 * the file's tokens. If a command fails, the server is wrong, not the client.
 */

/** A member (member, reader) of `project`, by the token the token file gives it. */
const memberToken = (project: string) => `member-of-${project}-0123456789abcdef`;
const member = (project: string): Record<string, string> => ({ 'x-auth-token': memberToken(project) });

const skipReason = requireTools(['glance'], 'python3-glanceclient');

describe('the glance CLI on the catalogue', { skip: skipReason }, () => {
  let server: ChildServer;
  let dataDir: string;
  let work: string;
  let env: NodeJS.ProcessEnv;
  const id: Record<string, string> = {};
  const nameOf = new Map<string, string>();

  const glance = (args: string[]) => runGlance(server.url, args, { env, cwd: work, token: server.adminToken! });

  async function ok(args: string[]): Promise<string> {
    const r = await glance(args);
    assert.equal(r.code, 0, `glance ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** image-list with the given options: the names of the rows, in order (IDs checked against names). */
  async function listNames(...args: string[]): Promise<string[]> {
    const rows = parseTable(await ok(['image-list', ...args]));
    return rows.map(([rowId = '', name = '']) => {
      assert.equal(nameOf.get(rowId), name, `row ${rowId} ${name}`);
      return name;
    });
  }

  before(async () => {
    dataDir = tempDir('ocellus-glance-cat-data-');
    const tokens = path.join(dataDir, 'tokens.yaml');
    fs.writeFileSync(tokens, ['P1', 'P2', 'P9'].map((p) => `${memberToken(p)}: { user_id: user-${p}, project_id: ${p}, roles: [member, reader] }\n`).join(''));
    const conf = path.join(dataDir, 'ocellus.conf');
    fs.writeFileSync(conf, `[token_auth]\ntoken_file = ${tokens}\n`);
    server = await spawnServer(dataDir, ['--config', conf]);
    const admin = () => server.auth;
    work = tempDir('ocellus-glance-cat-');
    env = glanceEnv(work);
    const RB = { disk_format: 'raw', container_format: 'bare' };
    const fixture: [string, Record<string, string>, Record<string, unknown>, number?][] = [
      ['zulu', admin(), { visibility: 'public', tags: ['gold'], os_distro: 'debian', ...RB }, 10],
      ['alpha', member('P1'), { visibility: 'private', tags: ['gold', 'silver'], ...RB }, 30],
      ['mike', member('P1'), { os_distro: 'debian', ...RB }, 20],
      ['echo', member('P2'), { ...RB }],
      ['bravo', member('P2'), { visibility: 'community', tags: ['gold'], ...RB }],
      ['kilo', admin(), { visibility: 'public', os_hidden: true, ...RB }],
    ];
    for (const [name, headers, body, size] of fixture) {
      const r = await api(server.url, 'POST', '/v2/images', { headers, json: { name, ...body } });
      assert.equal(r.status, 201, r.text);
      id[name] = r.body.id;
      nameOf.set(r.body.id, name);
      if (size !== undefined) assert.equal((await upload(server.url, r.body.id, Buffer.alloc(size, 7), headers)).status, 204);
      await sleep(5);
    }
  });
  after(async () => {
    await server?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Runs image-list queries side by side and compares each with its expected names. */
  async function expectLists(cases: [string[], string[], string?][]): Promise<void> {
    const got = await Promise.all(cases.map(([args]) => listNames(...args)));
    cases.forEach(([args, expected, msg], i) => assert.deepEqual(got[i], expected, `image-list ${args.join(' ')}${msg ? `: ${msg}` : ''}`));
  }

  test('image-list: an admin without a project sees no community and no hidden images; the CLI sorts by name', async () => {
    await expectLists([[[], ['alpha', 'echo', 'mike', 'zulu']]]);
  });

  test('image-list --visibility', async () => {
    await expectLists([
      [['--visibility', 'community'], ['bravo']],
      [['--visibility', 'public'], ['zulu']],
      [['--visibility', 'shared'], ['echo', 'mike']],
      [['--visibility', 'all'], ['alpha', 'bravo', 'echo', 'mike', 'zulu']],
    ]);
  });

  test('image-list --tag (repeated: all must match), --property-filter, --owner, --hidden', async () => {
    await expectLists([
      [['--tag', 'gold'], ['alpha', 'zulu'], "another project's community image stays out"],
      [['--tag', 'gold', '--tag', 'silver'], ['alpha']],
      [['--tag', 'gold', '--visibility', 'all'], ['alpha', 'bravo', 'zulu']],
      [['--property-filter', 'os_distro=debian'], ['mike', 'zulu']],
      [['--owner', 'P1'], ['alpha', 'mike']],
      [['--hidden'], ['kilo']],
    ]);
  });

  test('image-list --sort-key/--sort-dir and --sort', async () => {
    await expectLists([
      [['--sort-key', 'name', '--sort-dir', 'desc'], ['zulu', 'mike', 'echo', 'alpha']],
      [['--sort', 'created_at:desc'], ['echo', 'mike', 'alpha', 'zulu']],
      [['--sort-key', 'size', '--sort-dir', 'asc'], ['echo', 'zulu', 'mike', 'alpha'], 'no size sorts first'],
      [['--sort', 'size:desc'], ['alpha', 'mike', 'zulu', 'echo']],
      [['--sort', 'status:asc,name:desc'], ['zulu', 'mike', 'alpha', 'echo']],
    ]);
  });

  test('image-list --limit and --page-size page through the list', async () => {
    await expectLists([
      [['--limit', '2', '--sort', 'name:asc'], ['alpha', 'echo']],
      [['--page-size', '1', '--sort', 'name:asc'], ['alpha', 'echo', 'mike', 'zulu']],
      [['--limit', '3', '--page-size', '2', '--sort-key', 'name', '--sort-dir', 'desc'], ['zulu', 'mike', 'echo']],
      [['--page-size', '2', '--visibility', 'all', '--tag', 'gold', '--sort', 'created_at:asc'], ['zulu', 'alpha', 'bravo']],
    ]);
  });

  test('image-tag-update and image-tag-delete, seen by image-show', async () => {
    const updated = await ok(['image-tag-update', id.alpha!, 'bronze']);
    assert.match(updated, /bronze/);
    assert.match(parseShow(await ok(['image-show', id.alpha!])).tags ?? '', /bronze/);
    const r = await api(server.url, 'GET', `/v2/images/${id.alpha}`, { headers: member('P1') });
    assert.deepEqual([...r.body.tags].sort(), ['bronze', 'gold', 'silver']);
    assert.deepEqual(await listNames('--tag', 'bronze'), ['alpha']);

    await ok(['image-tag-delete', id.alpha!, 'bronze']);
    const shown = parseShow(await ok(['image-show', id.alpha!]));
    assert.doesNotMatch(shown.tags ?? '', /bronze/);
    assert.match(shown.tags ?? '', /gold/);
    assert.deepEqual(await listNames('--tag', 'bronze'), []);

    const missing = await glance(['image-tag-delete', id.alpha!, 'bronze']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /404 Not Found/);
  });

  test('member-create, member-list, member-update, member-delete', async () => {
    const image = id.mike!;
    const created = parseTable(await ok(['member-create', image, 'P9']));
    assert.deepEqual(created, [[image, 'P9', 'pending']]);
    assert.deepEqual(parseTable(await ok(['member-list', '--image-id', image])), [[image, 'P9', 'pending']]);
    // Pending: P9 reads the image by id but does not list it.
    assert.equal((await api(server.url, 'GET', `/v2/images/${image}`, { headers: member('P9') })).status, 200);
    const listed = async () => (await api(server.url, 'GET', '/v2/images', { headers: member('P9') })).body.images.map((i: any) => i.id);
    assert.ok(!(await listed()).includes(image));

    const updated = parseTable(await ok(['member-update', image, 'P9', 'accepted']));
    assert.deepEqual(updated, [[image, 'P9', 'accepted']]);
    assert.ok((await listed()).includes(image), 'accepted: listed');
    assert.deepEqual(parseTable(await ok(['member-list', '--image-id', image])), [[image, 'P9', 'accepted']]);

    await ok(['member-create', image, 'P8']);
    assert.deepEqual(
      parseTable(await ok(['member-list', '--image-id', image])).sort(),
      [[image, 'P8', 'pending'], [image, 'P9', 'accepted']].sort(),
    );

    await ok(['member-delete', image, 'P9']);
    assert.deepEqual(parseTable(await ok(['member-list', '--image-id', image])), [[image, 'P8', 'pending']]);
    assert.equal((await api(server.url, 'GET', `/v2/images/${image}`, { headers: member('P9') })).status, 404, 'P9 lost access');

    const dup = await glance(['member-create', image, 'P8']);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /409 Conflict/);
  });

  test('members of a non-shared image: 403 Not allowed to create members', async () => {
    const r = await glance(['member-create', id.alpha!, 'P9']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /403 Forbidden: Not allowed to create members for image/);
    const l = await glance(['member-list', '--image-id', id.zulu!]);
    assert.equal(l.code, 1);
    assert.match(l.stderr, /403 Forbidden/);
  });
});
