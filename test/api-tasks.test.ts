import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type DatabaseHandle } from '../src/db/connect.js';
import { SqlUnitOfWork } from '../src/db/unit-of-work.js';
import { TaskService } from '../src/domain/task-service.js';
import { admin, api, createImage, member, rawRequest, startServer, tempDir, type JsonResponse, type TestServer } from './support/harness.js';
import { glanceEnv, requireTools, runGlance } from './support/glance-cli.js';
import { Source } from './support/data-source.js';
import { waitFor } from './support/streaming.js';

/**
 * The legacy task API (/v2/tasks), its schemas, and GET /v2/images/{id}/tasks, against a real
 * server: Glance's policies (admin-only by default), validation messages, lists and paging,
 * expiry, and the glance CLI's task commands.
 */

const ADMIN = admin();
const message = (r: JsonResponse): string => String(r.body?.message ?? '').split('<br />')[0]!;
const IMPORT_INPUT = { import_from: 'http://93.184.216.34/cirros.img', import_from_format: 'raw', image_properties: { name: 'cirros', disk_format: 'raw', container_format: 'bare' } };
const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const ISO_MICROS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/;

/** A task recorded straight into the database: nobody runs it, so the test decides its life. */
async function recordTask(db: DatabaseHandle, owner = 'admin-project', imageId: string | null = null): Promise<string> {
  const now = Date.now();
  const id = randomUUID();
  await new SqlUnitOfWork(db).repos.tasks.insert({
    id, type: 'import', status: 'pending', owner, input: IMPORT_INPUT, result: null, message: '',
    image_id: imageId, request_id: null, user_id: null, expires_at: null, created_at: now, updated_at: now,
  });
  return id;
}

async function createTask(base: string, headers: Record<string, string>, input: Record<string, unknown> = IMPORT_INPUT): Promise<Record<string, unknown>> {
  const r = await api(base, 'POST', '/v2/tasks', { headers, json: { type: 'import', input } });
  assert.equal(r.status, 201, r.text);
  return r.body as Record<string, unknown>;
}

describe('the task API with the default policy (admin only)', () => {
  let s: TestServer;
  let db: DatabaseHandle;
  before(async () => {
    s = await startServer();
    db = openDatabase(s.dbUrl);
  });
  after(async () => {
    await db?.destroy();
    await s?.close();
  });

  test('non-admins get 403 tasks_api_access on every /v2/tasks call, before anything is checked', async () => {
    const m = member('p-tasks');
    const calls: [string, string, unknown][] = [
      ['POST', '/v2/tasks', { type: 'nonsense' }],
      ['GET', '/v2/tasks?limit=bad', undefined],
      ['GET', `/v2/tasks/${randomUUID()}`, undefined],
      ['DELETE', `/v2/tasks/${randomUUID()}`, undefined],
    ];
    for (const [method, p, json] of calls) {
      const r = await api(s.url, method, p, { headers: m, json });
      assert.equal(r.status, 403, `${method} ${p}: ${r.text}`);
      assert.equal(message(r), 'You are not authorized to complete tasks_api_access action.');
    }
  });

  test('POST /v2/tasks: 201, Location, the task pending with its input, owner, user and request id', async () => {
    const requestId = `req-${randomUUID()}`;
    const r = await api(s.url, 'POST', '/v2/tasks', { headers: { ...ADMIN, 'x-openstack-request-id': requestId }, json: { type: 'import', input: IMPORT_INPUT } });
    assert.equal(r.status, 201, r.text);
    const t = r.body;
    assert.equal(r.headers.get('location'), `${s.url}/v2/tasks/${t.id}`);
    assert.deepEqual(Object.keys(t), ['id', 'input', 'type', 'status', 'owner', 'message', 'result', 'created_at', 'updated_at', 'self', 'schema', 'request_id', 'user_id']);
    assert.equal(t.status, 'pending');
    assert.equal(t.type, 'import');
    assert.deepEqual(t.input, IMPORT_INPUT);
    assert.equal(t.owner, 'admin-project');
    assert.equal(t.message, '');
    assert.equal(t.result, null);
    assert.equal(t.request_id, requestId);
    assert.equal(t.user_id, 'admin-user');
    assert.match(t.created_at, ISO_SECONDS);
    assert.equal(t.self, `/v2/tasks/${t.id}`);
    assert.equal(t.schema, '/v2/schemas/task');
    // Then it runs: the image it asked for is made, and the task names it.
    const shown = await api(s.url, 'GET', `/v2/tasks/${t.id}`, { headers: ADMIN });
    assert.equal(shown.status, 200);
    // (It may have ended already — the source is not reachable from here — with expires_at set.)
    const moving = { status: undefined, image_id: undefined, updated_at: undefined, message: undefined, expires_at: undefined };
    assert.deepEqual({ ...shown.body, ...moving }, { ...t, ...moving });
    assert.match(shown.body.image_id, /^[0-9a-f-]{36}$/);
    const image = await api(s.url, 'GET', `/v2/images/${shown.body.image_id}`, { headers: ADMIN });
    assert.equal(image.body.name, 'cirros');
  });

  test("POST /v2/tasks validation: Glance's 400 messages", async () => {
    const cases: [unknown, string][] = [
      [{ input: IMPORT_INPUT }, "Task 'type' is required"],
      [{ type: 'import' }, "Task 'input' is required"],
      [[1, 2], "Task 'type' is required"],
      [{ type: 'import', input: IMPORT_INPUT, color: 'red' }, "Provided object does not match schema 'task': Additional properties are not allowed ('color' was unexpected)"],
      [{ type: 'copy', input: IMPORT_INPUT }, "Provided object does not match schema 'task': 'copy' is not one of ['import', 'api_image_import', 'location_import']"],
      [{ type: 'import', input: 'x' }, "Provided object does not match schema 'task': 'x' is not of type 'null', 'object'"],
      [{ type: 'api_image_import', input: { image_id: randomUUID() } }, 'Provided type of task is unsupported: api_image_import'],
      [{ type: 'import', input: {} }, 'Invalid location: None'],
      [{ type: 'import', input: null }, 'Invalid location: None'],
      [{ type: 'import', input: { ...IMPORT_INPUT, import_from: '' } }, 'Invalid location: '],
      [{ type: 'import', input: { ...IMPORT_INPUT, import_from: 'file:///etc/passwd' } }, 'File based imports are not allowed. Please use a non-local source of image data.'],
      [{ type: 'import', input: { ...IMPORT_INPUT, import_from: 'ftp://93.184.216.34/x' } }, "The given uri is not valid. Please specify a valid uri from the following list of supported uri ['http']"],
      [{ type: 'import', input: { ...IMPORT_INPUT, import_from: 'http://93.184.216.34:8080/x' } }, 'URI for legacy import task does not pass filtering: http://93.184.216.34:8080/x'],
      [{ type: 'import', input: { ...IMPORT_INPUT, import_from: 'http://2130706433/x' } }, 'URI for legacy import task does not pass filtering: http://2130706433/x'],
      [{ type: 'import', input: { import_from: 'https://93.184.216.34/x', image_properties: {} } }, "Input does not contain 'import_from_format' field"],
      [{ type: 'import', input: { import_from: 'https://93.184.216.34/x', import_from_format: 'qcow2' } }, "Input does not contain 'image_properties' field"],
    ];
    for (const [json, want] of cases) {
      const r = await api(s.url, 'POST', '/v2/tasks', { headers: ADMIN, json });
      assert.equal(r.status, 400, `${JSON.stringify(json)}: ${r.text}`);
      assert.ok(message(r).startsWith(want), `${JSON.stringify(json)}: ${message(r)} should start with ${want}`);
    }
    const none = await api(s.url, 'POST', '/v2/tasks', { headers: ADMIN });
    assert.equal(none.status, 400);
    assert.equal(message(none), 'Body expected in request.');
    const malformed = await api(s.url, 'POST', '/v2/tasks', { headers: ADMIN, body: '{"type":', contentType: 'application/json' });
    assert.equal(malformed.status, 400);
    assert.equal(message(malformed), 'Malformed JSON in request body.');
    // https on 443 and http on 80 pass Glance's default filter.
    await createTask(s.url, ADMIN, { ...IMPORT_INPUT, import_from: 'https://93.184.216.34:443/x' });
    await createTask(s.url, ADMIN, { ...IMPORT_INPUT, import_from: 'http://93.184.216.34:80/x' });
  });

  test('GET /v2/tasks/{id}: 404 with Glance’s message for an unknown task', async () => {
    const id = randomUUID();
    const r = await api(s.url, 'GET', `/v2/tasks/${id}`, { headers: ADMIN });
    assert.equal(r.status, 404);
    assert.equal(message(r), `Task with the given id ${id} was not found`);
  });

  test('DELETE /v2/tasks/{id}: 405, Allow: GET; other methods 405 with the path’s methods', async () => {
    const t = await createTask(s.url, ADMIN);
    const r = await api(s.url, 'DELETE', `/v2/tasks/${t.id}`, { headers: ADMIN });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET');
    assert.match(message(r), /They are auto deleted after reaching the time based on their expires_at property/);
    assert.equal((await api(s.url, 'GET', `/v2/tasks/${t.id}`, { headers: ADMIN })).status, 200, 'still there');
    const put = await api(s.url, 'PUT', `/v2/tasks/${t.id}`, { headers: ADMIN, json: {} });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'GET, DELETE');
    const patch = await api(s.url, 'PATCH', '/v2/tasks', { headers: ADMIN, json: {} });
    assert.equal(patch.headers.get('allow'), 'GET, POST');
  });

  describe('lists', () => {
    const ids: string[] = [];
    before(async () => {
      await db.deleteFrom('tasks').execute();
      for (let i = 0; i < 5; i++) ids.push(await recordTask(db));
      // Distinct created_at, oldest first; two of them ended.
      for (const [i, id] of ids.entries()) await db.updateTable('tasks').set({ created_at: Date.UTC(2030, 0, 1, 0, 0, i), updated_at: Date.UTC(2030, 0, 1, 0, 0, i) }).where('id', '=', id).execute();
      await db.updateTable('tasks').set({ status: 'success', expires_at: Date.now() + 3_600_000 }).where('id', 'in', [ids[1]!, ids[3]!]).execute();
    });

    test('newest first; stubs without input, result and message; first and schema links', async () => {
      const r = await api(s.url, 'GET', '/v2/tasks', { headers: ADMIN });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body.tasks.map((t: { id: string }) => t.id), [...ids].reverse());
      assert.equal(r.body.first, '/v2/tasks');
      assert.equal(r.body.schema, '/v2/schemas/tasks');
      assert.equal(r.body.next, undefined);
      const stub = r.body.tasks[0];
      assert.deepEqual(Object.keys(stub), ['id', 'type', 'status', 'owner', 'created_at', 'updated_at', 'self', 'schema']);
      const ended = r.body.tasks.find((t: { id: string }) => t.id === ids[1]);
      assert.match(ended.expires_at, ISO_SECONDS);
    });

    test('filters status and type; sort_key and sort_dir', async () => {
      const list = async (q: string) => {
        const r = await api(s.url, 'GET', `/v2/tasks?${q}`, { headers: ADMIN });
        assert.equal(r.status, 200, r.text);
        return r.body.tasks.map((t: { id: string }) => t.id);
      };
      assert.deepEqual(await list('status=success'), [ids[3], ids[1]]);
      assert.deepEqual(await list('status=pending&sort_dir=asc'), [ids[0], ids[2], ids[4]]);
      assert.deepEqual(await list('type=import&sort_key=created_at&sort_dir=asc'), ids);
      assert.deepEqual(await list('status=failure'), []);
      assert.deepEqual(await list('sort_key=status&sort_dir=asc'), [ids[0], ids[2], ids[4], ids[1], ids[3]]);
    });

    test('paging: limit, next links carrying the query, to the last page', async () => {
      const seen: string[] = [];
      let link: string | undefined = '/v2/tasks?sort_dir=asc&limit=2';
      const links: string[] = [];
      while (link) {
        const r = await api(s.url, 'GET', link, { headers: ADMIN });
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.first, '/v2/tasks?sort_dir=asc&limit=2');
        seen.push(...r.body.tasks.map((t: { id: string }) => t.id));
        links.push(link);
        link = r.body.next;
        assert.ok(links.length < 10);
      }
      assert.deepEqual(seen, ids);
      // 5 tasks by 2: pages of 2, 2, 1 — the third has no next.
      assert.equal(links.length, 3);
      assert.equal(links[1], `/v2/tasks?sort_dir=asc&limit=2&marker=${ids[1]}`);
      // limit beyond api_limit_max is cut; limit=0 is an empty page.
      assert.equal((await api(s.url, 'GET', '/v2/tasks?limit=0', { headers: ADMIN })).body.tasks.length, 0);
    });

    test("bad parameters: Glance's 400s", async () => {
      const unknown = randomUUID();
      const cases: [string, string][] = [
        ['sort_dir=up', 'Invalid sort direction: up'],
        ['status=done', 'Invalid status value: done'],
        ['type=api_image_import', 'Invalid type value: api_image_import'],
        ['marker=not-a-uuid', 'Invalid marker format'],
        [`marker=${unknown}`, `Task with the given id ${unknown} was not found`],
        ['limit=ten', 'limit param must be an integer'],
        ['limit=-1', 'limit param must be positive'],
        ['sort_key=input', 'Sort key supplied was not valid.'],
      ];
      for (const [q, want] of cases) {
        const r = await api(s.url, 'GET', `/v2/tasks?${q}`, { headers: ADMIN });
        assert.equal(r.status, 400, `${q}: ${r.text}`);
        assert.equal(message(r), want, q);
      }
    });

    test('an expired task is neither shown nor listed nor a valid marker; the sweep soft-deletes it', async () => {
      const id = await recordTask(db);
      const repos = new SqlUnitOfWork(db).repos;
      const service = new TaskService({
        tasks: repos.tasks,
        access: undefined as never,
        policy: undefined as never,
        limits: { apiLimitMax: 1000, limitParamDefault: 25 },
        web: undefined as never,
      });
      const now = Date.now();
      assert.equal(await repos.tasks.transition(id, 'pending', 'processing', {}, now), true);
      assert.equal(await repos.tasks.transition(id, 'pending', 'success', {}, now), false, 'not pending any more');
      assert.equal(await repos.tasks.transition(id, 'processing', 'success', { result: { image_id: 'x' }, expires_at: now }, now), true);
      await new Promise((r) => setTimeout(r, 5));
      assert.equal((await api(s.url, 'GET', `/v2/tasks/${id}`, { headers: ADMIN })).status, 404);
      const listed = await api(s.url, 'GET', '/v2/tasks', { headers: ADMIN });
      assert.ok(!listed.body.tasks.some((x: { id: string }) => x.id === id));
      assert.equal((await api(s.url, 'GET', `/v2/tasks?marker=${id}`, { headers: ADMIN })).status, 400);
      assert.ok((await service.deleteExpired()) >= 1);
      const row = await db.selectFrom('tasks').select(['deleted', 'status']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.equal(Number(row.deleted), 1);
      assert.equal(row.status, 'success');
    });

    test('a task ended with the configured time to live shows expires_at 48 hours on', async () => {
      const id = await recordTask(db);
      const now = Date.now();
      assert.equal(await new SqlUnitOfWork(db).repos.tasks.transition(id, 'pending', 'failure', { message: 'no source', expires_at: now + 48 * 3_600_000 }, now), true);
      const shown = (await api(s.url, 'GET', `/v2/tasks/${id}`, { headers: ADMIN })).body;
      assert.equal(shown.status, 'failure');
      assert.equal(shown.message, 'no source');
      const hours = (Date.parse(shown.expires_at) - Date.parse(shown.updated_at)) / 3_600_000;
      assert.ok(hours > 47.99 && hours <= 48.01, `expires 48 h after the end: ${hours}`);
    });
  });

  test('schemas: /v2/schemas/task and /v2/schemas/tasks are Glance’s', async () => {
    const props = {
      id: { description: 'An identifier for the task', pattern: '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$', type: 'string' },
      type: { description: 'The type of task represented by this content', enum: ['import', 'api_image_import', 'location_import'], type: 'string' },
      status: { description: 'The current status of this task', enum: ['pending', 'processing', 'success', 'failure'], type: 'string' },
      input: { description: 'The parameters required by task, JSON blob', type: ['null', 'object'] },
      result: { description: 'The result of current task, JSON blob', type: ['null', 'object'] },
      owner: { description: 'An identifier for the owner of this task', type: 'string' },
      message: { description: 'Human-readable informative message only included when appropriate (usually on failure)', type: 'string' },
      image_id: { description: 'Image associated with the task', type: 'string' },
      request_id: { description: 'Human-readable informative request-id', type: 'string' },
      user_id: { description: 'User associated with the task', type: 'string' },
      expires_at: { description: 'Datetime when this resource would be subject to removal', type: ['null', 'string'] },
      created_at: { description: 'Datetime when this resource was created', type: 'string' },
      updated_at: { description: 'Datetime when this resource was updated', type: 'string' },
      self: { readOnly: true, type: 'string' },
      schema: { readOnly: true, type: 'string' },
    };
    const task = await api(s.url, 'GET', '/v2/schemas/task', { headers: member('p-any') });
    assert.equal(task.status, 200);
    assert.equal(task.text, JSON.stringify({ name: 'task', properties: props }));
    const { input: _i, result: _r, message: _m, ...stub } = props;
    const tasks = await api(s.url, 'GET', '/v2/schemas/tasks', { headers: member('p-any') });
    assert.equal(tasks.status, 200);
    assert.equal(tasks.text, JSON.stringify({
      name: 'tasks',
      properties: { tasks: { type: 'array', items: { name: 'task', properties: stub } }, schema: { type: 'string' } },
      links: [{ rel: 'describedby', href: '{schema}' }],
    }));
  });
});

describe('the task API opened to members by policy', () => {
  let s: TestServer;
  let db: DatabaseHandle;
  const A = member('p-task-a');
  const B = member('p-task-b');
  before(async () => {
    const dir = tempDir('ocellus-task-policy-');
    const file = path.join(dir, 'policy.yaml');
    fs.writeFileSync(file, '"tasks_api_access": "role:member"\n"get_task": "project_id:%(project_id)s or role:admin"\n');
    s = await startServer([{ section: 'oslo_policy', name: 'policy_file', value: file }]);
    db = openDatabase(s.dbUrl);
  });
  after(async () => {
    await db?.destroy();
    await s?.close();
  });

  test("a project sees its own tasks only: another's is 404 and not listed; admins see all", async () => {
    const a = await createTask(s.url, A);
    const b = await createTask(s.url, B);
    assert.equal(a.owner, 'p-task-a');
    assert.equal((await api(s.url, 'GET', `/v2/tasks/${a.id}`, { headers: A })).status, 200);
    const other = await api(s.url, 'GET', `/v2/tasks/${a.id}`, { headers: B });
    assert.equal(other.status, 404);
    assert.equal(message(other), `Task with the given id ${a.id} was not found`);
    const listB = await api(s.url, 'GET', '/v2/tasks', { headers: B });
    assert.deepEqual(listB.body.tasks.map((t: { id: string }) => t.id), [b.id]);
    assert.equal((await api(s.url, 'GET', `/v2/tasks?marker=${a.id}`, { headers: B })).status, 400, "another project's task is no marker");
    const all = await api(s.url, 'GET', '/v2/tasks', { headers: ADMIN });
    const allIds = all.body.tasks.map((t: { id: string }) => t.id);
    assert.ok(allIds.includes(a.id) && allIds.includes(b.id));
  });

  test('the per-call rules apply after tasks_api_access (get_task tied to the owner here)', async () => {
    const a = await createTask(s.url, A);
    // An ownerless task is visible to all (Glance), but this get_task rule wants the owner's project.
    await db.updateTable('tasks').set({ owner: null }).where('id', '=', String(a.id)).execute();
    const r = await api(s.url, 'GET', `/v2/tasks/${a.id}`, { headers: A });
    assert.equal(r.status, 403);
    assert.equal(message(r), 'You are not authorized to complete get_task action.');
    assert.equal((await api(s.url, 'GET', `/v2/tasks/${a.id}`, { headers: ADMIN })).status, 200);
  });

  test("GET /v2/images/{id}/tasks: the image's tasks as database rows; 404 for an image the caller cannot see", async () => {
    const imageId = await createImage(s.url, A);
    const older = { id: await recordTask(db, 'p-task-a', imageId) };
    await new Promise((r) => setTimeout(r, 3));
    const newer = { id: await recordTask(db, 'p-task-a', imageId) };
    await recordTask(db, 'p-task-a', randomUUID());
    const r = await api(s.url, 'GET', `/v2/images/${imageId}/tasks`, { headers: A });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body.tasks.map((t: { id: string }) => t.id), [newer.id, older.id]);
    const row = r.body.tasks[0];
    assert.deepEqual(Object.keys(row), ['id', 'type', 'status', 'owner', 'expires_at', 'created_at', 'updated_at', 'deleted_at', 'deleted', 'image_id', 'request_id', 'user_id', 'input', 'result', 'message']);
    assert.match(row.created_at, ISO_MICROS);
    assert.equal(row.deleted, false);
    assert.equal(row.deleted_at, null);
    assert.equal(row.expires_at, null);
    assert.equal(row.image_id, imageId);
    assert.deepEqual(row.input, IMPORT_INPUT);
    assert.equal(row.result, null);
    assert.equal(row.message, '');
    // A private image of A: B gets a bare 404; an unknown image too.
    const hidden = await api(s.url, 'GET', `/v2/images/${imageId}/tasks`, { headers: B });
    assert.equal(hidden.status, 404);
    assert.equal(message(hidden), 'The resource could not be found.');
    assert.equal((await api(s.url, 'GET', `/v2/images/${randomUUID()}/tasks`, { headers: A })).status, 404);
    // Not a /v2/tasks call: tasks_api_access is not asked (a reader-only caller of the project still sees them).
    const reader = await api(s.url, 'GET', `/v2/images/${imageId}/tasks`, { headers: { 'x-project-id': 'p-task-a', 'x-roles': 'reader' } });
    assert.equal(reader.status, 200, reader.text);
    // A body is refused.
    const withBody = await rawRequest(s.url, 'GET', `/v2/images/${imageId}/tasks`, { headers: { ...A, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(withBody.status, 400);
    assert.match(withBody.text, /A body is not expected with this request\./);
  });
});

const skipCli = requireTools(['glance'], 'python3-glanceclient');

describe('the glance CLI task commands', { skip: skipCli }, () => {
  let s: TestServer;
  let work: string;
  let token: string;
  let source: Source;
  before(async () => {
    source = await new Source().start('127.0.0.2');
    s = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: '' },
      { section: 'import_filtering_opts', name: 'allowed_networks', value: '127.0.0.2/32' },
      { section: 'import_filtering_opts', name: 'allowed_ports', value: '' },
    ]);
    token = fs.readFileSync(path.join(s.dataDir, 'admin-token'), 'utf8').trim();
    work = tempDir('ocellus-task-cli-');
  });
  after(async () => {
    await s?.close();
    source?.close();
  });
  const glance = (args: string[]) => runGlance(s.url, args, { env: glanceEnv(work), cwd: work, token });

  test('task-create runs a legacy import to its end (an image with the data); task-show and task-list show it', async () => {
    const data = Buffer.from('legacy import task data '.repeat(1000));
    const input = { ...IMPORT_INPUT, import_from: source.put(data) };
    const created = await glance(['task-create', '--type', 'import', '--input', JSON.stringify(input)]);
    assert.equal(created.code, 0, created.stderr + created.stdout);
    const id = /\|\s*id\s*\|\s*([0-9a-f-]{36})\s*\|/.exec(created.stdout)?.[1];
    assert.ok(id, created.stdout);
    assert.match(created.stdout, /\|\s*status\s*\|\s*pending\s*\|/);
    const shown = await waitFor('the task to succeed', async () => {
      const r = await glance(['task-show', id]);
      assert.equal(r.code, 0, r.stderr);
      return /\|\s*status\s*\|\s*success\s*\|/.test(r.stdout) ? r.stdout : undefined;
    }, 20_000, 200);
    assert.match(shown, /\|\s*type\s*\|\s*import\s*\|/);
    const imageId = /"image_id": "([0-9a-f-]{36})"/.exec(shown)?.[1];
    assert.ok(imageId, shown);
    const image = await api(s.url, 'GET', `/v2/images/${imageId}`, { headers: { 'x-auth-token': token } });
    assert.equal(image.body.status, 'active');
    assert.equal(image.body.name, 'cirros');
    assert.equal(image.body.size, data.length);
    const listed = await glance(['task-list', '--status', 'success', '--type', 'import', '--sort-key', 'status', '--page-size', '1']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(listed.stdout.includes(id), listed.stdout);
    const bad = await glance(['task-create', '--type', 'import', '--input', JSON.stringify({ ...IMPORT_INPUT, import_from: 'file:///etc/passwd' })]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr + bad.stdout, /File based imports are not allowed/);
  });
});
