import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { SqlImageRepository } from '../src/db/image-repository.js';
import type { ImageRecord } from '../src/domain/image-model.js';
import { admin, api, member, PATCH21, projectlessAdmin, startServer, upload, type JsonResponse, type TestServer } from './support/harness.js';
import { runsOn, testDbKind } from './support/test-database.js';

runsOn('sqlite', 'postgresql', 'mariadb');

/**
 * The image catalogue as GET /v2/images shows it: every filter, sort key, paging rule and
 * visibility rule of Glance's list (api-v2.md §2 "List", policy-and-auth.md §7), on a fixture of
 * images owned by projects A, B, C and an admin project.
 */

type Caller = 'A' | 'B' | 'C' | 'ADM' | 'NOPROJECT';
const headersOf = (c: Caller): Record<string, string> => (c === 'ADM' ? admin() : c === 'NOPROJECT' ? projectlessAdmin() : member(c));

interface Spec {
  label: string;
  as: Exclude<Caller, 'NOPROJECT'>;
  body: Record<string, unknown>;
  data?: string;
}

const RB = { disk_format: 'raw', container_format: 'bare' };
/** Created in this order (a few ms apart, so created_at strictly increases). */
const SPECS: Spec[] = [
  { label: 'alpha', as: 'A', body: { name: 'alpha', ...RB, tags: ['t1', 't2'], os_distro: 'debian' }, data: 'a'.repeat(10) },
  { label: 'bravo', as: 'A', body: { name: 'bravo', visibility: 'private', disk_format: 'qcow2', container_format: 'bare', tags: ['t1'], os_distro: 'ubuntu' } },
  { label: 'charlie', as: 'A', body: { name: 'charlie', visibility: 'community', disk_format: 'raw', container_format: 'ovf', tags: ['t2'] }, data: 'c'.repeat(30) },
  { label: 'delta', as: 'A', body: { name: 'delta', ...RB, protected: true } },
  { label: 'echo', as: 'A', body: { name: 'echo', visibility: 'private', ...RB, os_hidden: true } },
  { label: 'comma', as: 'A', body: { name: 'a,b', visibility: 'private', ...RB } },
  { label: 'foxtrot', as: 'A', body: { name: 'foxtrot' } },
  { label: 'noname', as: 'A', body: { visibility: 'private', disk_format: 'vmdk', container_format: 'ova' } },
  { label: 'golf', as: 'B', body: { name: 'golf', ...RB }, data: 'g'.repeat(20) },
  { label: 'hotel', as: 'B', body: { name: 'hotel', ...RB } },
  { label: 'india', as: 'B', body: { name: 'india', ...RB } },
  { label: 'juliet', as: 'B', body: { name: 'juliet', visibility: 'private', ...RB, os_distro: 'debian' } },
  { label: 'kilo', as: 'B', body: { name: 'kilo', visibility: 'community', disk_format: 'vhd', container_format: 'bare' } },
  { label: 'lima', as: 'B', body: { name: 'lima', ...RB } },
  { label: 'mike', as: 'C', body: { name: 'mike', visibility: 'community', ...RB, os_hidden: true } },
  { label: 'november', as: 'C', body: { name: 'november', visibility: 'private', ...RB, tags: ['t1', 't2'], os_distro: 'debian' } },
  { label: 'oscar', as: 'ADM', body: { name: 'oscar', visibility: 'public', ...RB, tags: ['t1'] }, data: 'o'.repeat(40) },
  { label: 'papa', as: 'ADM', body: { name: 'papa', visibility: 'public', ...RB, os_hidden: true } },
  { label: 'quebec', as: 'ADM', body: { name: 'quebec', visibility: 'private', ...RB } },
  { label: 'romeo', as: 'ADM', body: { name: 'romeo', visibility: 'community', disk_format: 'qcow2', container_format: 'bare' } },
  { label: 'sierra', as: 'ADM', body: { name: 'sierra', visibility: 'public', ...RB }, data: 's'.repeat(5) },
  // Deleted right after creation: never listed.
  { label: 'tango', as: 'A', body: { name: 'tango', ...RB } },
];

/** Expected default lists (no visibility filter, os_hidden=false, member_status=accepted). */
const A_DEFAULT = ['alpha', 'bravo', 'charlie', 'delta', 'comma', 'foxtrot', 'noname', 'golf', 'oscar', 'sierra'];
const B_DEFAULT = ['golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'oscar', 'sierra'];
const C_DEFAULT = ['november', 'oscar', 'sierra'];
const ADM_DEFAULT = ['alpha', 'bravo', 'delta', 'comma', 'foxtrot', 'noname', 'golf', 'hotel', 'india', 'juliet', 'lima', 'november', 'oscar', 'quebec', 'romeo', 'sierra'];
/** Every live, listable (not hidden, not killed/deleted) image. */
const ALL_VISIBLE = [...ADM_DEFAULT, 'charlie', 'kilo'];

let server: TestServer;
const idOf: Record<string, string> = {};
const labelOf = new Map<string, string>();
/** Each fixture image as the API shows it to an admin, plus its exact timestamps from the database. */
const info: Record<string, any> = {};
const ms: Record<string, { created: number; updated: number }> = {};

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha512 = (s: string) => createHash('sha512').update(s).digest('hex');

async function list(query: string, caller: Caller): Promise<JsonResponse> {
  return api(server.url, 'GET', `/v2/images${query}`, { headers: headersOf(caller) });
}

const label = (id: string) => labelOf.get(id) ?? `unknown:${id}`;
const labels = (r: JsonResponse): string[] => {
  assert.equal(r.status, 200, r.text);
  return r.body.images.map((i: any) => label(i.id));
};

/** Follows `next` from the first page to the end; returns every page's labels. */
async function walk(query: string, caller: Caller, base = server.url, byId = label): Promise<{ pages: string[][]; raw: JsonResponse[] }> {
  const pages: string[][] = [];
  const raw: JsonResponse[] = [];
  let path: string | undefined = `/v2/images${query}`;
  for (let i = 0; path !== undefined; i++) {
    assert.ok(i < 200, 'paging does not end');
    const r: JsonResponse = await api(base, 'GET', path, { headers: headersOf(caller) });
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    pages.push(r.body.images.map((img: any) => byId(img.id)));
    raw.push(r);
    path = r.body.next;
  }
  return { pages, raw };
}

/** The whole (multi-page) result of a query, in order. */
async function all(query: string, caller: Caller): Promise<string[]> {
  const sep = query.includes('?') ? '&' : '?';
  return (await walk(`${query}${sep}limit=1000`, caller)).pages.flat();
}

const sorted = (xs: string[]) => [...xs].sort();
async function assertSet(query: string, caller: Caller, expected: string[], msg?: string): Promise<void> {
  assert.deepEqual(sorted(await all(query, caller)), sorted(expected), msg ?? `${caller} GET /v2/images${query}`);
}

async function assert400(query: string, caller: Caller = 'A'): Promise<void> {
  const r = await list(query, caller);
  assert.equal(r.status, 400, `GET /v2/images${query} should be 400, got ${r.status} ${r.text}`);
  assert.equal(r.body.code, '400 Bad Request');
}

before(async () => {
  server = await startServer();
  for (const spec of SPECS) {
    const r = await api(server.url, 'POST', '/v2/images', { headers: headersOf(spec.as), json: spec.body });
    assert.equal(r.status, 201, `${spec.label}: ${r.text}`);
    idOf[spec.label] = r.body.id;
    labelOf.set(r.body.id, spec.label);
    if (spec.data !== undefined) {
      const u = await upload(server.url, r.body.id, Buffer.from(spec.data), headersOf(spec.as));
      assert.equal(u.status, 204, u.text);
    }
    await sleep(3);
  }
  const post = async (path: string, caller: Caller, json?: unknown, method = 'POST') => {
    const r = await api(server.url, method, path, { headers: headersOf(caller), json });
    assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  };
  // Memberships: A accepted golf, is pending on hotel, rejected india; C pending on golf.
  await post(`/v2/images/${idOf.golf}/members`, 'B', { member: 'A' });
  await post(`/v2/images/${idOf.golf}/members`, 'B', { member: 'C' });
  await post(`/v2/images/${idOf.hotel}/members`, 'B', { member: 'A' });
  await post(`/v2/images/${idOf.india}/members`, 'B', { member: 'A' });
  await post(`/v2/images/${idOf.golf}/members/A`, 'A', { status: 'accepted' }, 'PUT');
  await post(`/v2/images/${idOf.india}/members/A`, 'A', { status: 'rejected' }, 'PUT');
  await post(`/v2/images/${idOf.sierra}/actions/deactivate`, 'ADM');
  await post(`/v2/images/${idOf.tango}`, 'A', undefined, 'DELETE');

  // A killed image (an upload that failed the legacy way) cannot be made through the API.
  const repo = new SqlImageRepository(server.service.db);
  const now = Date.now();
  const killed: ImageRecord = {
    id: randomUUID(), name: 'uniform', status: 'killed', visibility: 'public', protected: false, os_hidden: false,
    checksum: null, os_hash_algo: null, os_hash_value: null, owner: 'A', size: null, virtual_size: null, min_disk: 0, min_ram: 0,
    container_format: 'bare', disk_format: 'raw', created_at: now, updated_at: now, deleted_at: null, tags: ['t1'], properties: { os_distro: 'debian' }, locations: [],
  };
  assert.equal(await repo.insert(killed), true);
  idOf.uniform = killed.id;
  labelOf.set(killed.id, 'uniform');

  for (const spec of SPECS) {
    if (spec.label === 'tango') continue;
    const r = await api(server.url, 'GET', `/v2/images/${idOf[spec.label]}`, { headers: admin() });
    assert.equal(r.status, 200, r.text);
    info[spec.label] = r.body;
  }
  const rows = await server.service.db.selectFrom('images').select(['id', 'created_at', 'updated_at']).execute();
  for (const row of rows) {
    const l = labelOf.get(row.id);
    if (l) ms[l] = { created: Number(row.created_at), updated: Number(row.updated_at) };
  }
  // The fixture is what the tests assume.
  assert.equal(info.alpha.status, 'active');
  assert.equal(info.sierra.status, 'deactivated');
  assert.equal(info.foxtrot.visibility, 'shared');
  assert.equal(info.foxtrot.disk_format, null);
  assert.equal(info.noname.name, null);
});
after(async () => {
  await server?.close();
});

/** Fixture labels of `base` whose image satisfies `pred`. */
const where = (base: string[], pred: (img: any) => boolean) => base.filter((l) => pred(info[l]));

describe('default visibility of the list', () => {
  test('a project lists its own images, public ones and shared ones it accepted', async () => {
    await assertSet('', 'A', A_DEFAULT);
    await assertSet('', 'B', B_DEFAULT);
  });

  test('pending and rejected memberships do not list the image by default', async () => {
    await assertSet('', 'C', C_DEFAULT);
    const a = await all('', 'A');
    assert.ok(!a.includes('hotel'), 'pending');
    assert.ok(!a.includes('india'), 'rejected');
  });

  test("other projects' private images are never listed, whatever the filters", async () => {
    for (const q of ['', '?visibility=all', '?visibility=private', '?member_status=all&visibility=all', `?id=${idOf.juliet}`, '?name=juliet', '?owner=B&visibility=all']) {
      assert.ok(!(await all(q, 'A')).includes('juliet'), q);
      assert.ok(!(await all(q, 'C')).includes('quebec'), q);
    }
  });

  test("other projects' community images are listed only with visibility=community or all", async () => {
    const a = await all('', 'A');
    assert.ok(!a.includes('kilo') && !a.includes('romeo'));
    assert.ok(a.includes('charlie'), 'own community images are in the default list');
    await assertSet('?visibility=community', 'A', ['charlie', 'kilo', 'romeo']);
    await assertSet('?visibility=all', 'A', [...A_DEFAULT, 'kilo', 'romeo']);
  });

  test("an admin lists other projects' private and shared images, and its own community ones, but not others' community images", async () => {
    await assertSet('', 'ADM', ADM_DEFAULT);
    await assertSet('?visibility=community', 'ADM', ['charlie', 'kilo', 'romeo']);
    await assertSet('?visibility=all', 'ADM', ALL_VISIBLE);
    await assertSet('?visibility=private', 'ADM', ['bravo', 'comma', 'noname', 'juliet', 'november', 'quebec']);
    await assertSet('?visibility=shared', 'ADM', ['alpha', 'delta', 'foxtrot', 'golf', 'hotel', 'india', 'lima']);
  });

  test('a caller with no project (an admin with only X-Roles) lists no community image by default', async () => {
    await assertSet('', 'NOPROJECT', ADM_DEFAULT.filter((l) => l !== 'romeo'));
    await assertSet('?visibility=community', 'NOPROJECT', ['charlie', 'kilo', 'romeo']);
  });

  test('killed and deleted images are never listed, even to admins asking for them', async () => {
    for (const caller of ['A', 'ADM'] as const) {
      await assertSet('?visibility=all&status=killed', caller, []);
      await assertSet('?visibility=all&status=deleted', caller, []);
      await assertSet('?visibility=all&status=in:killed,deleted', caller, []);
      await assertSet('?name=uniform&visibility=all', caller, []);
      await assertSet('?name=tango&visibility=all', caller, []);
      const everything = await all('?visibility=all&os_distro=debian', caller);
      assert.ok(!everything.includes('uniform'));
    }
  });
});

describe('visibility and member_status filters', () => {
  test('visibility=public|private|shared|community|all for a project', async () => {
    await assertSet('?visibility=public', 'A', ['oscar', 'sierra']);
    await assertSet('?visibility=private', 'A', ['bravo', 'comma', 'noname']);
    await assertSet('?visibility=shared', 'A', ['alpha', 'delta', 'foxtrot', 'golf']);
    await assertSet('?visibility=community', 'B', ['charlie', 'kilo', 'romeo']);
    await assertSet('?visibility=all', 'C', [...C_DEFAULT, 'charlie', 'kilo', 'romeo']);
  });

  for (const bad of ['bogus', 'PUBLIC', 'public,private']) {
    test(`visibility=${bad} is 400`, async () => {
      await assert400(`?visibility=${encodeURIComponent(bad)}`);
    });
  }

  test('member_status picks which memberships list a shared image (own shared images always listed)', async () => {
    const ownShared = ['alpha', 'delta', 'foxtrot'];
    await assertSet('?visibility=shared&member_status=accepted', 'A', [...ownShared, 'golf']);
    await assertSet('?visibility=shared&member_status=pending', 'A', [...ownShared, 'hotel']);
    await assertSet('?visibility=shared&member_status=rejected', 'A', [...ownShared, 'india']);
    await assertSet('?visibility=shared&member_status=all', 'A', [...ownShared, 'golf', 'hotel', 'india']);
    await assertSet('?visibility=shared&member_status=pending', 'C', ['golf']);
    await assertSet('?visibility=shared&member_status=accepted', 'C', []);
    // Without a visibility filter the membership status still decides for shared images.
    await assertSet('?member_status=pending', 'A', [...A_DEFAULT.filter((l) => l !== 'golf'), 'hotel']);
    await assertSet('?member_status=all', 'A', [...A_DEFAULT, 'hotel', 'india']);
    // The owner's view is not affected.
    await assertSet('?visibility=shared&member_status=rejected', 'B', ['golf', 'hotel', 'india', 'lima']);
  });

  test('member_status does not narrow an admin’s list', async () => {
    await assertSet('?member_status=pending', 'ADM', ADM_DEFAULT);
    await assertSet('?visibility=shared&member_status=rejected', 'ADM', ['alpha', 'delta', 'foxtrot', 'golf', 'hotel', 'india', 'lima']);
  });

  for (const bad of ['bogus', 'ACCEPTED', '']) {
    test(`member_status=${bad} is 400`, async () => {
      await assert400(`?visibility=shared&member_status=${bad}`);
    });
  }
});

describe('attribute filters', () => {
  test('name: exact match, and nothing for a name the caller cannot see', async () => {
    await assertSet('?name=alpha', 'A', ['alpha']);
    await assertSet('?name=juliet', 'A', []);
    await assertSet('?name=juliet', 'B', ['juliet']);
    await assertSet('?name=nosuch', 'A', []);
  });

  test('name=in: takes a comma list; double quotes keep commas inside a value', async () => {
    await assertSet('?name=in:alpha,golf,juliet', 'A', ['alpha', 'golf']);
    await assertSet(`?name=${encodeURIComponent('in:"a,b",alpha')}`, 'A', ['comma', 'alpha']);
    await assertSet('?name=in:a,b', 'A', [], 'without quotes a,b is two names');
    await assertSet(`?name=${encodeURIComponent('a,b')}`, 'A', ['comma'], 'a bare value is one name, commas included');
    await assertSet('?name=in:alpha', 'A', ['alpha']);
  });

  test('id: exact and in:', async () => {
    await assertSet(`?id=${idOf.alpha}`, 'A', ['alpha']);
    await assertSet(`?id=in:${idOf.alpha},${idOf.golf},${idOf.juliet},${idOf.hotel}`, 'A', ['alpha', 'golf']);
    await assertSet(`?id=in:${idOf.alpha},${idOf.golf},${idOf.juliet},${idOf.hotel}`, 'ADM', ['alpha', 'golf', 'juliet', 'hotel']);
    await assertSet(`?id=${randomUUID()}`, 'A', []);
  });

  test('status, container_format and disk_format: exact and in:', async () => {
    await assertSet('?status=active', 'A', where(A_DEFAULT, (i) => i.status === 'active'));
    assert.deepEqual(sorted(where(A_DEFAULT, (i) => i.status === 'active')), sorted(['alpha', 'charlie', 'golf', 'oscar']));
    await assertSet('?status=deactivated', 'A', ['sierra']);
    await assertSet('?status=queued', 'A', where(A_DEFAULT, (i) => i.status === 'queued'));
    await assertSet('?status=in:active,deactivated', 'A', ['alpha', 'charlie', 'golf', 'oscar', 'sierra']);
    await assertSet('?container_format=ovf', 'A', ['charlie']);
    await assertSet('?container_format=in:ovf,ova', 'A', ['charlie', 'noname']);
    await assertSet('?disk_format=qcow2', 'A', ['bravo']);
    await assertSet('?disk_format=qcow2', 'ADM', ['bravo', 'romeo']);
    await assertSet('?disk_format=in:qcow2,vmdk', 'A', ['bravo', 'noname']);
    await assertSet('?disk_format=raw', 'A', where(A_DEFAULT, (i) => i.disk_format === 'raw'));
  });

  for (const q of ['name=gt:alpha', 'name=neq:alpha', 'id=lt:abc', 'status=gte:active', 'disk_format=eq:raw&container_format=lte:bare', 'container_format=neq:bare']) {
    test(`an operator other than in: on an in-filter column (${q}) is 400`, async () => {
      await assert400(`?${q}`);
    });
  }

  test('an unbalanced quote in an in: list is 400', async () => {
    await assert400(`?name=${encodeURIComponent('in:"alpha,bravo')}`);
  });

  test('owner, checksum and os_hash_value: exact match', async () => {
    await assertSet('?owner=B', 'A', ['golf']);
    await assertSet('?owner=B', 'ADM', ['golf', 'hotel', 'india', 'juliet', 'lima']);
    await assertSet('?owner=B&visibility=all', 'ADM', ['golf', 'hotel', 'india', 'juliet', 'kilo', 'lima']);
    await assertSet('?owner=A', 'B', []);
    await assertSet(`?checksum=${md5('a'.repeat(10))}`, 'A', ['alpha']);
    await assertSet(`?checksum=${md5('g'.repeat(20))}`, 'C', [], 'golf is pending for C');
    await assertSet(`?checksum=${md5('nothing')}`, 'A', []);
    await assertSet(`?os_hash_value=${sha512('o'.repeat(40))}`, 'A', ['oscar']);
  });

  test('tag: repeated tags must all match', async () => {
    await assertSet('?tag=t1', 'A', ['alpha', 'bravo', 'oscar']);
    await assertSet('?tag=t2', 'A', ['alpha', 'charlie']);
    await assertSet('?tag=t1&tag=t2', 'A', ['alpha']);
    await assertSet('?tag=t1&tag=t2', 'ADM', ['alpha', 'november']);
    await assertSet('?tag=t1&tag=nope', 'A', []);
  });

  test('size_min and size_max: inclusive integer bounds', async () => {
    await assertSet('?size_min=20', 'A', ['golf', 'charlie', 'oscar']);
    await assertSet('?size_max=20', 'A', ['alpha', 'golf', 'sierra']);
    await assertSet('?size_min=15&size_max=35', 'A', ['golf', 'charlie']);
    await assertSet('?size_min=10&size_max=10', 'A', ['alpha']);
    await assertSet('?size_min=41', 'A', []);
    await assertSet('?size_max=4', 'A', [], 'images without data have no size and do not match a range');
  });

  for (const q of ['size_min=abc', 'size_max=1.5', 'size_min=', 'size_max=10kb', 'size_min=1e3']) {
    test(`a non-numeric range bound (${q}) is 400`, async () => {
      await assert400(`?${q}`);
    });
  }

  test('os_hidden: hidden images are left out by default; os_hidden=true lists only hidden ones', async () => {
    await assertSet('?os_hidden=true', 'A', ['echo', 'papa']);
    await assertSet('?os_hidden=true&visibility=community', 'A', ['mike']);
    await assertSet('?os_hidden=true', 'ADM', ['echo', 'papa']);
    await assertSet('?os_hidden=true&visibility=all', 'ADM', ['echo', 'mike', 'papa']);
    await assertSet('?os_hidden=false', 'A', A_DEFAULT);
    await assertSet('?os_hidden=true', 'B', ['papa']);
    // Hidden is only about lists: GET by id works.
    assert.equal((await api(server.url, 'GET', `/v2/images/${idOf.papa}`, { headers: member('B') })).status, 200);
  });

  for (const bad of ['yes', '1', '', 'maybe']) {
    test(`os_hidden=${bad} is 400`, async () => {
      await assert400(`?os_hidden=${bad}`);
    });
  }

  test('protected=true|false', async () => {
    await assertSet('?protected=true', 'A', ['delta']);
    await assertSet('?protected=false', 'A', A_DEFAULT.filter((l) => l !== 'delta'));
    await assertSet('?protected=true', 'B', []);
  });

  for (const bad of ['yes', '1', '', 'True']) {
    test(`protected=${bad} is 400`, async () => {
      await assert400(`?protected=${bad}`);
    });
  }

  test('any other key filters on a custom property value', async () => {
    await assertSet('?os_distro=debian', 'A', ['alpha']);
    await assertSet('?os_distro=debian', 'ADM', ['alpha', 'juliet', 'november']);
    await assertSet('?os_distro=debian&tag=t1', 'ADM', ['alpha', 'november']);
    await assertSet('?os_distro=ubuntu', 'A', ['bravo']);
    await assertSet('?no_such_property=x', 'A', []);
  });

  test('changes-since is 400 (a v1 filter)', async () => {
    await assert400('?changes-since=2020-01-01T00:00:00Z');
  });

  test('filters combine (AND)', async () => {
    await assertSet('?status=active&tag=t1', 'A', ['alpha', 'oscar']);
    await assertSet('?status=active&tag=t1&visibility=public', 'A', ['oscar']);
    await assertSet('?disk_format=raw&size_min=1&owner=A', 'A', ['alpha', 'charlie']);
  });
});

describe('created_at and updated_at filters', () => {
  // A server of their own: these images would otherwise join the fixture's lists.
  let own: TestServer;
  const T = 'T-times';
  let early: string;
  let late: string;
  let sEarly: string;
  let sLate: string;
  let sUpdated: string;
  const nextSecond = () => sleep(1000 - (Date.now() % 1000) + 30);

  before(async () => {
    own = await startServer();
    await nextSecond();
    let r = await api(own.url, 'POST', '/v2/images', { headers: member(T), json: { name: 'early' } });
    early = r.body.id;
    sEarly = r.body.created_at;
    await nextSecond();
    r = await api(own.url, 'POST', '/v2/images', { headers: member(T), json: { name: 'late' } });
    late = r.body.id;
    sLate = r.body.created_at;
    await nextSecond();
    r = await api(own.url, 'PATCH', `/v2/images/${early}`, {
      headers: member(T),
      json: [{ op: 'replace', path: '/name', value: 'early2' }],
      contentType: PATCH21,
    });
    assert.equal(r.status, 200, r.text);
    sUpdated = r.body.updated_at;
    assert.ok(sEarly < sLate && sLate < sUpdated, `${sEarly} < ${sLate} < ${sUpdated}`);
  });
  after(async () => {
    await own?.close();
  });

  async function names(query: string): Promise<string[]> {
    const r = await api(own.url, 'GET', `/v2/images?owner=${T}&${query}`, { headers: member(T) });
    assert.equal(r.status, 200, `${query}: ${r.text}`);
    return r.body.images.map((i: any) => (i.id === early ? 'early' : i.id === late ? 'late' : i.id)).sort();
  }

  test('created_at with gt, gte, lt, lte, eq, neq and a bare timestamp', async () => {
    assert.deepEqual(await names(`created_at=gt:${sEarly}`), ['late']);
    assert.deepEqual(await names(`created_at=gte:${sEarly}`), ['early', 'late']);
    assert.deepEqual(await names(`created_at=gte:${sLate}`), ['late']);
    assert.deepEqual(await names(`created_at=lt:${sLate}`), ['early']);
    assert.deepEqual(await names(`created_at=lt:${sEarly}`), []);
    assert.deepEqual(await names(`created_at=lte:${sLate}`), ['early', 'late']);
    assert.deepEqual(await names(`created_at=lte:${sEarly}`), ['early']);
    assert.deepEqual(await names(`created_at=eq:${sEarly}`), ['early']);
    assert.deepEqual(await names(`created_at=${sLate}`), ['late'], 'a bare timestamp means eq');
    assert.deepEqual(await names(`created_at=neq:${sEarly}`), ['late']);
    assert.deepEqual(await names(`created_at=gt:${sUpdated}`), []);
  });

  test('updated_at follows changes', async () => {
    assert.deepEqual(await names(`updated_at=gt:${sLate}`), ['early']);
    assert.deepEqual(await names(`updated_at=lte:${sLate}`), ['late']);
    assert.deepEqual(await names(`updated_at=eq:${sUpdated}`), ['early']);
    assert.deepEqual(await names(`updated_at=neq:${sUpdated}`), ['late']);
    // created_at did not move.
    assert.deepEqual(await names(`created_at=eq:${sEarly}`), ['early']);
  });

  test('a timestamp with an offset is compared in UTC', async () => {
    const d = new Date(sEarly);
    const plusOne = new Date(d.getTime() + 3600_000).toISOString().replace(/\.\d{3}Z$/, '+01:00');
    assert.deepEqual(await names(`created_at=${encodeURIComponent(`eq:${plusOne}`)}`), ['early']);
    assert.deepEqual(await names(`created_at=${encodeURIComponent(`gt:${plusOne}`)}`), ['late']);
  });

  test('time filters combine into a range', async () => {
    assert.deepEqual(await names(`created_at=gte:${sEarly}&updated_at=lt:${sUpdated}`), ['late']);
  });

  for (const bad of ['gt:notadate', 'yesterday', 'lt:2024-13-01T00:00:00Z', 'eq:2024-01-01T25:00:00Z', 'in:2024-01-01T00:00:00Z', 'gt:']) {
    test(`created_at=${bad} is 400`, async () => {
      for (const key of ['created_at', 'updated_at']) {
        const r = await api(own.url, 'GET', `/v2/images?${key}=${encodeURIComponent(bad)}`, { headers: member(T) });
        assert.equal(r.status, 400, `${key}=${bad}: ${r.status} ${r.text}`);
      }
    });
  }
});

// ---- sorting --------------------------------------------------------------------------------

const SORT_KEYS = ['name', 'status', 'container_format', 'disk_format', 'size', 'id', 'created_at', 'updated_at'] as const;
type Key = (typeof SORT_KEYS)[number];

/** The value an image sorts by: NULLs sort as the lowest value (first ascending, last descending). */
function sortValue(l: string, key: Key): string | number {
  if (key === 'created_at') return ms[l]!.created;
  if (key === 'updated_at') return ms[l]!.updated;
  const v = info[l][key];
  if (v === null) return key === 'size' ? -1 : '';
  return v;
}

function comparator(keys: [Key, 'asc' | 'desc'][]): (a: string, b: string) => number {
  return (a, b) => {
    for (const [k, d] of keys) {
      const x = sortValue(a, k);
      const y = sortValue(b, k);
      if (x === y) continue;
      const c = x < y ? -1 : 1;
      return d === 'asc' ? c : -c;
    }
    return 0;
  };
}

/** Expected full order, with Glance's implicit created_at and id tie-breakers in direction `tie`. */
function expectedOrder(base: string[], keys: [Key, 'asc' | 'desc'][], tie: 'asc' | 'desc'): string[] {
  const full = [...keys];
  for (const k of ['created_at', 'id'] as const) if (!full.some(([key]) => key === k)) full.push([k, tie]);
  return [...base].sort(comparator(full));
}

/** The list is ordered by `keys` (ties in any order) and holds exactly `base`. */
function assertOrderedBy(got: string[], base: string[], keys: [Key, 'asc' | 'desc'][], what: string): void {
  assert.deepEqual(sorted(got), sorted(base), `${what}: the same images`);
  const cmp = comparator(keys);
  for (let i = 1; i < got.length; i++) {
    assert.ok(cmp(got[i - 1]!, got[i]!) <= 0, `${what}: ${got[i - 1]} before ${got[i]}`);
  }
}

describe('sorting', () => {
  test('the default order is created_at descending', async () => {
    assert.deepEqual(await all('?visibility=all', 'ADM'), expectedOrder(ALL_VISIBLE, [['created_at', 'desc']], 'desc'));
    assert.deepEqual(await all('', 'A'), expectedOrder(A_DEFAULT, [['created_at', 'desc']], 'desc'));
  });

  for (const key of SORT_KEYS) {
    for (const dir of ['asc', 'desc'] as const) {
      test(`sort by ${key} ${dir} (sort_key/sort_dir and sort=${key}:${dir})`, async () => {
        const expected = expectedOrder(ALL_VISIBLE, [[key, dir]], dir);
        assert.deepEqual(await all(`?visibility=all&sort_key=${key}&sort_dir=${dir}`, 'ADM'), expected, 'sort_key/sort_dir');
        assert.deepEqual(await all(`?visibility=all&sort=${key}:${dir}`, 'ADM'), expected, 'sort=');
        // A filtered list of another caller is sorted the same way.
        assert.deepEqual(await all(`?sort=${key}:${dir}&status=queued`, 'A'), expectedOrder(where(A_DEFAULT, (i) => i.status === 'queued'), [[key, dir]], dir));
      });
    }
  }

  test('without a direction, sort_key and sort= sort descending', async () => {
    const expected = expectedOrder(ALL_VISIBLE, [['name', 'desc']], 'desc');
    assert.deepEqual(await all('?visibility=all&sort_key=name', 'ADM'), expected);
    assert.deepEqual(await all('?visibility=all&sort=name', 'ADM'), expected);
  });

  test('sort_dir alone applies to the default key created_at', async () => {
    assert.deepEqual(await all('?visibility=all&sort_dir=asc', 'ADM'), expectedOrder(ALL_VISIBLE, [['created_at', 'asc']], 'asc'));
  });

  test('several sort_keys with one sort_dir: that direction for all keys', async () => {
    const expected = expectedOrder(ALL_VISIBLE, [['disk_format', 'asc'], ['name', 'asc']], 'asc');
    assert.deepEqual(await all('?visibility=all&sort_key=disk_format&sort_key=name&sort_dir=asc', 'ADM'), expected);
    const desc = expectedOrder(ALL_VISIBLE, [['status', 'desc'], ['size', 'desc']], 'desc');
    assert.deepEqual(await all('?visibility=all&sort_key=status&sort_key=size&sort_dir=desc', 'ADM'), desc);
    assert.deepEqual(await all('?visibility=all&sort_key=status&sort_key=size', 'ADM'), desc, 'no direction: desc for all');
  });

  test('several keys with a direction each', async () => {
    const cases: [string, [Key, 'asc' | 'desc'][]][] = [
      ['sort_key=status&sort_key=name&sort_dir=asc&sort_dir=desc', [['status', 'asc'], ['name', 'desc']]],
      ['sort_key=disk_format&sort_key=size&sort_dir=desc&sort_dir=asc', [['disk_format', 'desc'], ['size', 'asc']]],
      ['sort=status:asc,name:desc', [['status', 'asc'], ['name', 'desc']]],
      ['sort=container_format:desc,size:asc,name:asc', [['container_format', 'desc'], ['size', 'asc'], ['name', 'asc']]],
      ['sort=size:asc,name', [['size', 'asc'], ['name', 'desc']]],
      ['sort=disk_format,updated_at:asc', [['disk_format', 'desc'], ['updated_at', 'asc']]],
    ];
    for (const [q, keys] of cases) {
      assertOrderedBy(await all(`?visibility=all&${q}`, 'ADM'), ALL_VISIBLE, keys, q);
    }
  });

  const badSorts = [
    'sort_key=owner',
    'sort_key=visibility',
    'sort_key=bogus',
    'sort_key=NAME',
    'sort_key=name&sort_dir=up',
    'sort_key=name&sort_dir=ASC',
    'sort=bogus:asc',
    'sort=name:up',
    'sort=name:asc,min_ram:desc',
    'sort=name:asc&sort_key=name',
    'sort=name:asc&sort_dir=asc',
    'sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc&sort_dir=asc',
    'sort_key=name&sort_dir=asc&sort_dir=desc',
    'sort_key=name&sort_key=size&sort_key=status&sort_dir=asc&sort_dir=desc',
  ];
  for (const q of badSorts) {
    test(`invalid sorting (${q}) is 400`, async () => {
      await assert400(`?${q}`, 'ADM');
    });
  }
});

// ---- paging ---------------------------------------------------------------------------------

describe('paging', () => {
  /** Walks `query` page by page and checks it against the one-page result. */
  async function checkWalk(query: string, caller: Caller, limit: number): Promise<string[][]> {
    const whole = await all(query, caller);
    const { pages, raw } = await walk(`${query}&limit=${limit}`, caller);
    const flat = pages.flat();
    assert.deepEqual(flat, whole, `${query} limit=${limit}: paging visits the same images in the same order`);
    assert.equal(new Set(flat).size, flat.length, 'no image twice');
    const wanted = new URLSearchParams(query.slice(1));
    for (let i = 0; i < raw.length; i++) {
      const body = raw[i]!.body;
      const last = i === raw.length - 1;
      if (!last) {
        assert.equal(pages[i]!.length, limit, 'every page but the last is full');
        const next = new URL(body.next, 'http://x');
        assert.equal(next.pathname, '/v2/images');
        for (const [k, v] of wanted) assert.ok(next.searchParams.getAll(k).includes(v), `next keeps ${k}=${v}: ${body.next}`);
        assert.equal(next.searchParams.get('limit'), String(limit));
        assert.equal(next.searchParams.get('marker'), idOf[pages[i]![limit - 1]!]);
      } else {
        assert.equal(body.next, undefined);
        assert.ok(pages[i]!.length < limit, 'the last page is short (next appears only on full pages)');
      }
      // first is the query without the marker.
      const first = new URL(body.first, 'http://x');
      assert.equal(first.searchParams.get('marker'), null);
      for (const [k, v] of wanted) assert.ok(first.searchParams.getAll(k).includes(v), `first keeps ${k}=${v}`);
    }
    return pages;
  }

  test('limit/marker through a sorted, filtered list visits every image exactly once', async () => {
    await checkWalk('?visibility=all&sort=name:asc', 'ADM', 3);
    await checkWalk('?visibility=all&sort_key=name&sort_dir=desc', 'ADM', 4);
    await checkWalk('?status=queued&sort_key=size&sort_dir=asc', 'A', 2);
    await checkWalk('?visibility=all&sort=size:desc', 'ADM', 2);
    await checkWalk('?visibility=all&sort=status:asc,size:desc', 'ADM', 2);
    await checkWalk('?visibility=all&sort=container_format:asc,disk_format:desc,size:asc', 'ADM', 3);
    await checkWalk('?visibility=all&sort=updated_at:desc', 'ADM', 5);
    await checkWalk('?visibility=all&disk_format=raw&sort=created_at:asc', 'ADM', 2);
    await checkWalk('?visibility=all', 'ADM', 7);
    await checkWalk('?tag=t1&visibility=all', 'ADM', 1);
    await checkWalk('?member_status=all&visibility=shared&sort=name:asc', 'A', 2);
  });

  test('a full last page has next, and the page after it is empty without next', async () => {
    const whole = await all('?visibility=all&sort=name:asc', 'ADM');
    const n = whole.length;
    const p1 = await list(`?visibility=all&sort=name:asc&limit=${n}`, 'ADM');
    assert.deepEqual(labels(p1), whole);
    assert.ok(p1.body.next, 'a full page has next');
    const p2 = await api(server.url, 'GET', p1.body.next, { headers: admin() });
    assert.deepEqual(labels(p2), []);
    assert.equal(p2.body.next, undefined);
    const bigger = await list(`?visibility=all&sort=name:asc&limit=${n + 1}`, 'ADM');
    assert.deepEqual(labels(bigger), whole);
    assert.equal(bigger.body.next, undefined);
  });

  test('a marker continues after that image in the requested order', async () => {
    const whole = await all('?visibility=all&sort=name:asc', 'ADM');
    const i = whole.indexOf('golf');
    const r = await list(`?visibility=all&sort=name:asc&marker=${idOf.golf}&limit=3`, 'ADM');
    assert.deepEqual(labels(r), whole.slice(i + 1, i + 4));
  });

  test('an unknown marker is 400', async () => {
    await assert400(`?marker=${randomUUID()}`, 'A');
    await assert400('?marker=not-a-uuid', 'A');
  });

  test('a marker of an image the caller cannot see is 400', async () => {
    await assert400(`?marker=${idOf.juliet}`, 'A');
    await assert400(`?marker=${idOf.quebec}`, 'C');
    // The admin sees it: accepted.
    assert.equal((await list(`?marker=${idOf.juliet}`, 'ADM')).status, 200);
  });

  test('a marker of a deleted image is 400', async () => {
    await assert400(`?marker=${idOf.tango}`, 'A');
    await assert400(`?marker=${idOf.tango}`, 'ADM');
  });

  test('the default page size is limit_param_default and limit is capped at api_limit_max', async () => {
    const own = await startServer([
      { section: 'DEFAULT', name: 'api_limit_max', value: '5' },
      { section: 'DEFAULT', name: 'limit_param_default', value: '3' },
    ]);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 7; i++) {
        const r = await api(own.url, 'POST', '/v2/images', { headers: member('P'), json: { name: `p${i}` } });
        ids.push(r.body.id);
        await sleep(3);
      }
      const newestFirst = [...ids].reverse();
      const byId = (id: string) => id;
      const get = (q: string) => api(own.url, 'GET', `/v2/images${q}`, { headers: member('P') });
      const d = await get('');
      assert.deepEqual(d.body.images.map((i: any) => i.id), newestFirst.slice(0, 3));
      assert.ok(d.body.next);
      const capped = await get('?limit=100');
      assert.deepEqual(capped.body.images.map((i: any) => i.id), newestFirst.slice(0, 5));
      assert.ok(new URL(capped.body.next, 'http://x').searchParams.get('limit') === '100');
      const five = await get('?limit=5');
      assert.equal(five.body.images.length, 5);
      const { pages } = await walk('?limit=100', 'NOPROJECT', own.url, byId);
      assert.deepEqual(pages.map((p) => p.length), [5, 2]);
      assert.deepEqual(pages.flat(), newestFirst);
      const zero = await get('?limit=0');
      assert.equal(zero.status, 200);
      assert.deepEqual(zero.body.images, []);
      assert.equal(zero.body.next, undefined);
    } finally {
      await own.close();
    }
  });

  for (const bad of ['-1', 'abc', '2.5', '']) {
    test(`limit=${bad} is 400`, async () => {
      await assert400(`?limit=${bad}`);
    });
  }
});

// ---- scale ----------------------------------------------------------------------------------

describe('a catalogue of 5,000 images', () => {
  let big: TestServer;
  interface Row { i: number; id: string; owner: string; visibility: string; size: number; disk: string; tags: string[]; batch: string; name: string }
  const rows: Row[] = [];
  const idToI = new Map<string, number>();

  before(async () => {
    big = await startServer();
    // A scratch database: trade durability for speed while filling it (SQLite only).
    if (testDbKind() === 'sqlite') await sql`PRAGMA synchronous = OFF`.execute(big.service.db);
    const repo = new SqlImageRepository(big.service.db);
    const base = Date.now() - 10_000_000;
    for (let i = 0; i < 5000; i++) {
      const row: Row = {
        i,
        id: randomUUID(),
        owner: `S${i % 5}`,
        visibility: i % 7 === 0 ? 'public' : i % 3 === 0 ? 'shared' : 'private',
        size: i,
        disk: i % 2 === 1 ? 'qcow2' : 'raw',
        tags: i % 50 === 0 ? ['fifty'] : [],
        batch: String(i % 10),
        name: `img-${String(i).padStart(5, '0')}`,
      };
      rows.push(row);
      idToI.set(row.id, i);
    }
    // Batches in parallel; each insert is its own transaction.
    for (let start = 0; start < rows.length; start += 250) {
      await Promise.all(
        rows.slice(start, start + 250).map((r) =>
          repo.insert({
            id: r.id, name: r.name, status: 'active', visibility: r.visibility, protected: false, os_hidden: false,
            checksum: null, os_hash_algo: null, os_hash_value: null, owner: r.owner, size: r.size, virtual_size: null,
            min_disk: 0, min_ram: 0, container_format: 'bare', disk_format: r.disk,
            created_at: base + r.i * 1000, updated_at: base + r.i * 1000, deleted_at: null,
            tags: r.tags, properties: { batch: r.batch }, locations: [],
          }),
        ),
      );
    }
  });
  after(async () => {
    await big?.close();
  });

  async function fetchAll(query: string, headers: Record<string, string>): Promise<number[]> {
    const out: number[] = [];
    let path: string | undefined = `/v2/images${query}`;
    while (path !== undefined) {
      const r: JsonResponse = await api(big.url, 'GET', path, { headers });
      assert.equal(r.status, 200, r.text);
      for (const img of r.body.images) out.push(idToI.get(img.id) ?? -1);
      path = r.body.next;
    }
    return out;
  }

  const visibleTo = (p: string) => (r: Row) => r.owner === p || r.visibility === 'public';

  test('tag + size range + sort, as a project', async () => {
    const got = await fetchAll('?tag=fifty&size_min=1000&size_max=3000&sort=size:asc&limit=1000', member('S1'));
    const expected = rows.filter((r) => visibleTo('S1')(r) && r.tags.includes('fifty') && r.size >= 1000 && r.size <= 3000).map((r) => r.i);
    assert.deepEqual(got, expected);
    assert.deepEqual(got, [1050, 1400, 1750, 2100, 2450, 2800]);
  });

  test('custom property + disk_format + size_max, sorted by name descending', async () => {
    const got = await fetchAll('?batch=3&disk_format=qcow2&size_max=500&sort=name:desc', member('S0'));
    assert.deepEqual(got, [483, 413, 343, 273, 203, 133, 63]);
  });

  test("a project's own images, paged 1000 at a time", async () => {
    const got = await fetchAll('?owner=S2&visibility=private&limit=1000&sort=created_at:asc', member('S2'));
    const expected = rows.filter((r) => r.owner === 'S2' && r.visibility === 'private').map((r) => r.i);
    assert.deepEqual(got, expected);
    assert.ok(expected.length > 500);
  });

  test('an admin pages through 2,500 raw images, each exactly once', async () => {
    const got = await fetchAll('?disk_format=raw&limit=1000', admin());
    assert.equal(got.length, 2500);
    assert.equal(new Set(got).size, 2500);
    assert.deepEqual(got, rows.filter((r) => r.disk === 'raw').map((r) => r.i).reverse());
  });
});
