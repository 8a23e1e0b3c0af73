/**
 * The OpenAPI 3.1 document of the whole API, served at /openapi.json, and the reference page
 * rendered from it at /api-ref/ (self-contained HTML: no script, no external resource).
 *
 * The document is built from the routes this server registered (collected by an onRoute hook)
 * and the operation table (openapi-operations.ts); its component schemas are the very objects
 * the handlers validate with and /v2/schemas serves. A route with no entry in the table is left
 * out, which test/openapi.test.ts catches.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { metadefSchemas } from '../domain/metadef-schemas.js';
import type { JsonSchema } from '../domain/image-schema.js';
import { taskBodySchema, taskSchema, tasksSchema } from '../domain/task-schema.js';
import type { ApiDeps } from './app-deps.js';
import { escapeHtml } from './error-render.js';
import { MEMBER_SCHEMA, MEMBERS_SCHEMA } from './member-routes.js';
import { listedVersions } from './versions.js';
import { METADEF_COMPONENTS, OPERATIONS, type BodySpec, type OperationSpec } from './openapi-operations.js';

export const OPENAPI_PATH = '/openapi.json';
export const API_REF_PATH = '/api-ref/';

const VERBS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

/** The method and path (OpenAPI style, `{param}`) of every route registered. */
export class RouteRegistry {
  private readonly routes = new Map<string, { method: string; path: string }>();

  /** Adds the onRoute hook that fills the registry (call before registering routes). */
  attach(app: FastifyInstance): void {
    app.addHook('onRoute', (route: RouteOptions) => {
      for (const method of [route.method].flat()) if (VERBS.includes(method)) this.add(method, route.url);
    });
  }

  add(method: string, fastifyPath: string): void {
    const path = openApiPath(fastifyPath);
    this.routes.set(`${method} ${path}`, { method, path });
  }

  list(): { method: string; path: string }[] {
    return [...this.routes.values()];
  }
}

/** `/v2/images/:id` → `/v2/images/{id}`. */
export function openApiPath(fastifyPath: string): string {
  return fastifyPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

/** A copy of a schema with its `#/definitions/...` refs pointing inside its component. */
function relocate(schema: unknown, component: string): unknown {
  if (Array.isArray(schema)) return schema.map((s) => relocate(s, component));
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/definitions/') ? `#/components/schemas/${component}${v.slice(1)}` : relocate(v, component);
  }
  return out;
}

/** The component schemas: the API's own schema objects, plus the few bodies that have none. */
function components(deps: ApiDeps): Record<string, unknown> {
  const own: Record<string, JsonSchema> = {
    Image: deps.imageSchema,
    Images: deps.imagesSchema,
    Member: MEMBER_SCHEMA,
    Members: MEMBERS_SCHEMA,
    Task: taskSchema(),
    Tasks: tasksSchema(),
    TaskRequest: taskBodySchema(),
  };
  for (const [segment, schema] of Object.entries(metadefSchemas())) own[METADEF_COMPONENTS[segment]!] = schema;
  const schemas: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(own)) schemas[name] = relocate(schema, name);
  schemas.JsonPatch = {
    type: 'array',
    items: {
      type: 'object',
      required: ['op', 'path'],
      properties: { op: { enum: ['add', 'remove', 'replace'] }, path: { type: 'string' }, value: {} },
    },
  };
  schemas.ImportRequest = {
    type: 'object',
    required: ['method'],
    properties: {
      method: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { enum: ['glance-direct', 'web-download', 'copy-image', 'glance-download'] },
          uri: { type: 'string', description: 'web-download: the URL to read.' },
          glance_image_id: { type: 'string' },
          glance_region: { type: 'string' },
          glance_service_interface: { type: 'string' },
        },
      },
      stores: { type: 'array', items: { type: 'string' } },
      all_stores: { type: 'boolean' },
      all_stores_must_succeed: { type: 'boolean' },
    },
  };
  schemas.Error = {
    type: 'object',
    description: 'An error as Glance (WebOb) renders it for Accept: application/json.',
    properties: { message: { type: 'string' }, code: { type: 'string' }, title: { type: 'string' } },
  };
  return schemas;
}

function bodySchema(spec: BodySpec): Record<string, unknown> {
  if ('ref' in spec) return { $ref: `#/components/schemas/${spec.ref}` };
  if ('binary' in spec) return { type: 'string', contentMediaType: 'application/octet-stream' };
  return spec.inline;
}

function content(spec: BodySpec, mediaTypes?: string[]): Record<string, unknown> {
  const types = mediaTypes ?? ('binary' in spec ? ['application/octet-stream'] : ['application/json']);
  return Object.fromEntries(types.map((t) => [t, { schema: bodySchema(spec) }]));
}

function operation(method: string, path: string, spec: OperationSpec): Record<string, unknown> {
  const parameters: Record<string, unknown>[] = [];
  for (const m of path.matchAll(/\{([^}]+)\}/g)) parameters.push({ name: m[1], in: 'path', required: true, schema: { type: 'string' } });
  for (const [name, description] of Object.entries(spec.query ?? {})) parameters.push({ name, in: 'query', required: false, description, schema: { type: 'string' } });
  for (const [name, description] of Object.entries(spec.headers ?? {})) parameters.push({ name, in: 'header', required: false, description, schema: { type: 'string' } });
  const success: Record<string, unknown> = { description: spec.summary };
  if (spec.response && method !== 'HEAD') success.content = content(spec.response);
  const op: Record<string, unknown> = {
    operationId: `${method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/\*/g, 'files').replace(/\/$/, '/index').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
    tags: [spec.tag],
    summary: spec.summary,
    parameters,
    responses: { [String(spec.status)]: success, default: { description: 'An error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
  };
  if (spec.request) op.requestBody = { required: true, content: content(spec.request, spec.request.mediaTypes) };
  if (spec.public) op.security = [];
  return op;
}

/** The OpenAPI 3.1 document of the routes in `registry`. */
export function buildOpenApiDocument(deps: ApiDeps, registry: RouteRegistry): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const routes = registry.list().sort((a, b) => a.path.localeCompare(b.path) || VERBS.indexOf(a.method) - VERBS.indexOf(b.method));
  for (const { method, path } of routes) {
    const spec = OPERATIONS[`${method} ${path}`];
    if (!spec) continue;
    (paths[path] ??= {})[method.toLowerCase()] = operation(method, path, spec);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Ocellus Image API',
      version: listedVersions(deps.features)[0]!.id,
      description: 'The OpenStack Image API v2 as Ocellus serves it. Versioned paths (/v2.x/...) are the /v2/ paths below.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: deps.publicEndpoint ? [{ url: deps.publicEndpoint.replace(/\/+$/, '') }] : [{ url: '/' }],
    security: [{ token: [] }],
    tags: [...new Set(Object.values(OPERATIONS).map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: components(deps),
      securitySchemes: { token: { type: 'apiKey', in: 'header', name: 'X-Auth-Token', description: 'A Keystone token (or the admin token of the default flavor).' } },
    },
  };
}

function schemaName(body: unknown): string {
  if (!body || typeof body !== 'object') return '';
  const media = Object.entries(body as Record<string, { schema?: Record<string, unknown> }>)[0];
  if (!media) return '';
  const schema = media[1].schema ?? {};
  const ref = typeof schema.$ref === 'string' ? schema.$ref.split('/').pop()! : null;
  const label = ref ? `<a href="#schema-${escapeHtml(ref)}">${escapeHtml(ref)}</a>` : escapeHtml(String(schema.type ?? 'object'));
  return `${label} <small>(${escapeHtml(media[0])})</small>`;
}

/** The reference page: every operation by tag, then every schema, from the document. */
export function renderApiReference(doc: Record<string, unknown>): string {
  const info = doc.info as { title: string; version: string; description: string };
  const paths = doc.paths as Record<string, Record<string, Record<string, any>>>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const byTag = new Map<string, string[]>();
  for (const [path, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const params = (op.parameters as { name: string; in: string; description?: string }[])
        .map((p) => `<li><code>${escapeHtml(p.name)}</code> (${p.in})${p.description ? ` — ${escapeHtml(p.description)}` : ''}</li>`)
        .join('');
      const [status, success] = Object.entries(op.responses as Record<string, { content?: unknown }>)[0]!;
      const html =
        `<section class="op" id="${escapeHtml(op.operationId)}"><h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code></h3>` +
        `<p>${escapeHtml(op.summary)}${op.security ? ' <em>(no authentication)</em>' : ''}</p>` +
        (params ? `<ul>${params}</ul>` : '') +
        (op.requestBody ? `<p>Request: ${schemaName(op.requestBody.content)}</p>` : '') +
        `<p>Response: ${escapeHtml(status)}${success.content ? ` ${schemaName(success.content)}` : ''}</p></section>`;
      byTag.set(op.tags[0], [...(byTag.get(op.tags[0]) ?? []), html]);
    }
  }
  const schemas = (doc.components as { schemas: Record<string, unknown> }).schemas;
  const toc = [...byTag.keys()].map((t) => `<li><a href="#tag-${escapeHtml(t)}">${escapeHtml(t)}</a></li>`).join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(info.title)} ${escapeHtml(info.version)}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:auto;padding:1em}code,pre{font-family:monospace}pre{background:#f4f4f4;padding:.5em;overflow:auto}
.op{border-top:1px solid #ddd}.m{display:inline-block;min-width:4em;font-size:80%;padding:.1em .3em;color:#fff;background:#555}.m.get{background:#2a7}.m.post{background:#27a}.m.put{background:#a72}.m.patch{background:#7a2}.m.delete{background:#a22}</style>
</head><body><h1>${escapeHtml(info.title)} <small>${escapeHtml(info.version)}</small></h1><p>${escapeHtml(info.description)}</p>
<p>The machine-readable document: <a href="${OPENAPI_PATH}">${OPENAPI_PATH}</a> (OpenAPI ${escapeHtml(String(doc.openapi))}).</p>
<ul>${toc}<li><a href="#schemas">Schemas</a></li></ul>
${[...byTag].map(([tag, ops]) => `<h2 id="tag-${escapeHtml(tag)}">${escapeHtml(tag)}</h2>\n${ops.join('\n')}`).join('\n')}
<h2 id="schemas">Schemas</h2>
${Object.entries(schemas).map(([name, s]) => `<h3 id="schema-${escapeHtml(name)}">${escapeHtml(name)}</h3><pre>${escapeHtml(JSON.stringify(s, null, 2))}</pre>`).join('\n')}
</body></html>
`;
}

/** GET /openapi.json and GET /api-ref/, without authentication; both built once, on first use. */
export function openApiRoutes(deps: ApiDeps, registry: RouteRegistry) {
  return async (app: FastifyInstance) => {
    let doc: Record<string, unknown> | null = null;
    let page: string | null = null;
    const documentNow = () => (doc ??= buildOpenApiDocument(deps, registry));
    app.get(OPENAPI_PATH, { config: { public: true } }, async () => documentNow());
    app.get(API_REF_PATH, { config: { public: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send((page ??= renderApiReference(documentNow()))));
  };
}
