/**
 * The OpenAPI document (/openapi.json) and its reference page (/api-ref/): the document's shape
 * as OpenAPI 3.1, every $ref resolving, every route the server registered in it (and nothing
 * else), its schemas the ones /v2/schemas serves, and the page rendered from it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { openApiPath } from '../src/api/openapi.js';
import { admin, api, startServer, type TestServer } from './support/harness.js';
import { runsOn } from './support/test-database.js';

runsOn('sqlite');

let server: TestServer;
let doc: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
before(async () => {
  server = await startServer();
  const r = await api(server.url, 'GET', '/openapi.json');
  assert.equal(r.status, 200, r.text);
  doc = r.body;
});
after(async () => {
  await server.close();
});

/** The routes Fastify itself holds, from its route tree printout ("└── /segment (GET, POST)", four columns a level). */
function registeredRoutes(): Set<string> {
  const out = new Set<string>();
  const stack: string[] = [];
  for (const line of server.service.app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([\s│├└─]*?)([^\s│├└─]\S*)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = Math.round(m[1]!.length / 4);
    stack.length = depth;
    stack.push(m[2]!);
    for (const method of m[3]?.split(', ') ?? []) out.add(`${method} ${openApiPath(stack.join(''))}`);
  }
  return out;
}

function resolvePointer(root: unknown, ref: string): unknown {
  assert.ok(ref.startsWith('#/'), `external or relative $ref ${ref}`);
  let node: any = root; // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    node = node?.[key];
  }
  return node;
}

test('the document has the shape of OpenAPI 3.1 and every $ref resolves', () => {
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(typeof doc.info.title, 'string');
  assert.match(doc.info.version, /^v2\.\d+$/);
  assert.ok(Object.keys(doc.paths).length > 50);
  assert.ok(doc.components.schemas.Image && doc.components.securitySchemes.token);
  const ids = new Set<string>();
  for (const [path, ops] of Object.entries<Record<string, any>>(doc.paths)) { // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.ok(path.startsWith('/'), path);
    for (const [method, op] of Object.entries<any>(ops)) { // eslint-disable-line @typescript-eslint/no-explicit-any
      assert.ok(['get', 'head', 'post', 'put', 'patch', 'delete'].includes(method), method);
      assert.ok(!ids.has(op.operationId), `operationId ${op.operationId} twice`);
      ids.add(op.operationId);
      assert.ok(Object.keys(op.responses).length > 0);
      const pathParams = [...path.matchAll(/\{([^}]+)\}/g)].map((x) => x[1]).sort();
      assert.deepEqual(op.parameters.filter((p: { in: string }) => p.in === 'path').map((p: { name: string }) => p.name).sort(), pathParams, `${method} ${path}`);
    }
  }
  let refs = 0;
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref') {
        refs++;
        assert.notEqual(resolvePointer(doc, v as string), undefined, `$ref ${String(v)} does not resolve`);
      } else walk(v);
    }
  };
  walk(doc);
  assert.ok(refs > 100, `${refs} refs`);
});

test('every registered route is in the document, and nothing else', () => {
  const registered = registeredRoutes();
  assert.ok(registered.has('GET /v2/images/{id}') && registered.has('PUT /v2/images/{id}/tags/{tag}'), [...registered].join('\n'));
  const documented = new Set<string>();
  for (const [path, ops] of Object.entries<object>(doc.paths)) for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
  assert.deepEqual([...registered].filter((r) => !documented.has(r)), [], 'routes missing from /openapi.json');
  assert.deepEqual([...documented].filter((r) => !registered.has(r)), [], 'operations that are not routes');
});

test('the component schemas are the ones /v2/schemas serves', async () => {
  for (const [path, component] of [['image', 'Image'], ['members', 'Members'], ['task', 'Task'], ['metadefs/tag', 'MetadefTag']] as const) {
    const served = await api(server.url, 'GET', `/v2/schemas/${path}`, { headers: admin() });
    assert.equal(served.status, 200);
    assert.deepEqual(doc.components.schemas[component], served.body, path);
  }
  // A metadef schema's internal refs now point inside its component.
  const ns = JSON.stringify(doc.components.schemas.MetadefNamespace);
  assert.ok(ns.includes('"#/components/schemas/MetadefNamespace/definitions/property"') && !ns.includes('"#/definitions/'));
});

test('the document and the reference page are served without authentication; the page is self-contained', async () => {
  const page = await fetch(`${server.url}/api-ref/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  const html = await page.text();
  assert.match(html, /<h1>Ocellus Image API/);
  for (const [path, ops] of Object.entries<object>(doc.paths)) for (const method of Object.keys(ops)) assert.ok(html.includes(`<span class="m ${method}">${method.toUpperCase()}</span> <code>${path}</code>`), `${method} ${path} on the page`);
  assert.doesNotMatch(html, /<script|<link|src="http|href="http/);
  // An image call without identity is still 401: only these two are public.
  assert.equal((await api(server.url, 'GET', '/v2/images')).status, 401);
});
