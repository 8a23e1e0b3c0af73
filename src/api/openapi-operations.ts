/**
 * What each route of the Image API takes and answers, for the OpenAPI document (openapi.ts):
 * one entry per method and path, naming the schemas (components, built from the same schema
 * objects that validate bodies and that /v2/schemas serves) of its request and response bodies.
 * A route registered without an entry here is missing from the document (test/openapi.test.ts).
 */

/** A body: a named component schema, raw bytes, or an inline schema. */
export type BodySpec = { ref: string } | { binary: true } | { inline: Record<string, unknown> };

export interface OperationSpec {
  tag: string;
  summary: string;
  /** The request body and its media types (JSON unless said otherwise). */
  request?: BodySpec & { mediaTypes?: string[] };
  /** The success status and its body, if any. */
  status: number;
  response?: BodySpec;
  /** Query parameters (all optional strings unless a schema is given). */
  query?: Record<string, string>;
  /** Headers the operation reads. */
  headers?: Record<string, string>;
  /** Served without authentication. */
  public?: boolean;
}

const PATCH_TYPES = ['application/openstack-images-v2.1-json-patch', 'application/openstack-images-v2.0-json-patch'];
const OCTETS = ['application/octet-stream'];
const obj = (properties: Record<string, unknown> = {}): BodySpec => ({ inline: { type: 'object', properties } });
const STORES = obj({ stores: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, description: { type: 'string' }, default: { type: 'boolean' } } } } });
const CONSOLE_SESSION = obj({
  signedIn: { type: 'boolean' },
  strategy: { enum: ['keystone', 'token', 'headers'] },
  csrfToken: { type: 'string' },
  user: { type: 'object' },
  project: { type: 'object' },
  roles: { type: 'array', items: { type: 'string' } },
  isAdmin: { type: 'boolean' },
  expiresAt: { type: 'string', format: 'date-time' },
});
const IMAGE_LIST_QUERY: Record<string, string> = {
  limit: 'Page size (at most [api] limit_param_default / api_limit_max).',
  marker: 'The id of the last image of the previous page.',
  sort: 'Comma-separated key:direction pairs (new sort syntax).',
  sort_key: 'Sort key (old syntax; repeatable).',
  sort_dir: 'asc or desc (old syntax; repeatable).',
  name: 'Filter by name.',
  status: 'Filter by status.',
  visibility: 'public, private, shared, community or all.',
  member_status: 'Filter shared images by the member status of the caller.',
  owner: 'Filter by owner project.',
  tag: 'Filter by tag (repeatable).',
  disk_format: 'Filter by disk format.',
  container_format: 'Filter by container format.',
  size_min: 'Minimum size in bytes.',
  size_max: 'Maximum size in bytes.',
  protected: 'true or false.',
  os_hidden: 'Include (true) or only list hidden images.',
  created_at: 'Time comparison, e.g. gte:2026-01-01T00:00:00Z.',
  updated_at: 'Time comparison, e.g. lt:2026-01-01T00:00:00Z.',
};
const NAMESPACE_LIST_QUERY: Record<string, string> = {
  limit: 'Page size.',
  marker: 'The namespace of the last entry of the previous page.',
  sort_key: 'created_at, updated_at, namespace.',
  sort_dir: 'asc or desc.',
  visibility: 'public or private.',
  resource_types: 'Comma-separated resource type names.',
};

/** The operations, by "METHOD /path/{param}". */
export const OPERATIONS: Record<string, OperationSpec> = {
  'GET /versions': { tag: 'Versions', summary: 'List the API versions', status: 200, response: obj({ versions: { type: 'array' } }), public: true },
  'HEAD /versions': { tag: 'Versions', summary: 'Check the versions document', status: 200, public: true },
  'GET /__version_choices': { tag: 'Versions', summary: 'Version choices (the answer for an unversioned or unknown path)', status: 300, response: obj({ versions: { type: 'array' } }), public: true },
  'HEAD /__version_choices': { tag: 'Versions', summary: 'Version choices, headers only', status: 300, public: true },
  'GET /healthcheck': { tag: 'Versions', summary: 'Health check (the metadata database answers)', status: 200, response: { inline: { type: 'string' } }, public: true },
  'HEAD /healthcheck': { tag: 'Versions', summary: 'Health check, headers only', status: 200, public: true },
  'GET /metrics': { tag: 'Versions', summary: 'Prometheus metrics, text exposition format (served here unless [metrics] bind_port gives them a listener of their own)', status: 200, response: { inline: { type: 'string', contentMediaType: 'text/plain' } }, public: true },
  'GET /openapi.json': { tag: 'Versions', summary: 'This OpenAPI document', status: 200, response: obj(), public: true },
  'GET /api-ref/': { tag: 'Versions', summary: 'The API reference page rendered from this document', status: 200, response: { inline: { type: 'string', contentMediaType: 'text/html' } }, public: true },

  'GET /console': { tag: 'Console', summary: 'The web console (redirects to /console/)', status: 302, public: true },
  'GET /console/': { tag: 'Console', summary: "The web console's page", status: 200, response: { inline: { type: 'string', contentMediaType: 'text/html' } }, public: true },
  'GET /console/*': { tag: 'Console', summary: "The console's files: static/<file> (style sheets, images), js/<path> (its scripts, ES modules)", status: 200, response: { binary: true }, public: true },
  'GET /console/session': { tag: 'Console', summary: 'Who is signed in to the console (never the token), with the CSRF token writes through /console/api need', status: 200, response: CONSOLE_SESSION, public: true },
  'POST /console/session': {
    tag: 'Console',
    summary: 'Sign in to the console (Keystone: username, password, userDomain, project, projectDomain; token: token; trusted headers: project, user, roles); sets the HttpOnly session cookie',
    request: obj({ username: { type: 'string' }, password: { type: 'string' }, userDomain: { type: 'string' }, project: { type: 'string' }, projectDomain: { type: 'string' }, token: { type: 'string' }, user: { type: 'string' }, roles: { type: 'string' } }),
    status: 201,
    response: CONSOLE_SESSION,
    public: true,
  },
  'DELETE /console/session': { tag: 'Console', summary: 'Sign out (X-CSRF-Token; a Keystone token is revoked)', status: 204, headers: { 'X-CSRF-Token': 'The session\'s CSRF token.' }, public: true },

  'GET /v2/schemas/image': { tag: 'Schemas', summary: 'The image schema', status: 200, response: { ref: 'Image' } },
  'GET /v2/schemas/images': { tag: 'Schemas', summary: 'The image list schema', status: 200, response: { ref: 'Images' } },
  'GET /v2/schemas/member': { tag: 'Schemas', summary: 'The member schema', status: 200, response: { ref: 'Member' } },
  'GET /v2/schemas/members': { tag: 'Schemas', summary: 'The member list schema', status: 200, response: { ref: 'Members' } },
  'GET /v2/schemas/task': { tag: 'Schemas', summary: 'The task schema', status: 200, response: { ref: 'Task' } },
  'GET /v2/schemas/tasks': { tag: 'Schemas', summary: 'The task list schema', status: 200, response: { ref: 'Tasks' } },

  'POST /v2/images': { tag: 'Images', summary: 'Create an image', request: { ref: 'Image' }, status: 201, response: { ref: 'Image' } },
  'GET /v2/images': { tag: 'Images', summary: 'List images (paged: follow `next`)', status: 200, response: { ref: 'Images' }, query: IMAGE_LIST_QUERY },
  'GET /v2/images/{id}': { tag: 'Images', summary: 'Show an image', status: 200, response: { ref: 'Image' } },
  'PATCH /v2/images/{id}': { tag: 'Images', summary: 'Update an image (JSON patch)', request: { ref: 'JsonPatch', mediaTypes: PATCH_TYPES }, status: 200, response: { ref: 'Image' } },
  'DELETE /v2/images/{id}': { tag: 'Images', summary: 'Delete an image', status: 204 },
  'POST /v2/images/{id}/actions/deactivate': { tag: 'Images', summary: 'Deactivate an image', status: 204 },
  'POST /v2/images/{id}/actions/reactivate': { tag: 'Images', summary: 'Reactivate an image', status: 204 },
  'PUT /v2/images/{id}/tags/{tag}': { tag: 'Tags', summary: 'Add a tag', status: 204 },
  'DELETE /v2/images/{id}/tags/{tag}': { tag: 'Tags', summary: 'Remove a tag', status: 204 },

  'PUT /v2/images/{id}/file': { tag: 'Image data', summary: 'Upload the image data', request: { binary: true, mediaTypes: OCTETS }, status: 204, headers: { 'x-image-meta-store': 'The store to write to (multi-store).' } },
  'GET /v2/images/{id}/file': { tag: 'Image data', summary: 'Download the image data (Range supported)', status: 200, response: { binary: true }, headers: { range: 'A byte range (answered with 206).' } },
  'PUT /v2/images/{id}/stage': { tag: 'Import', summary: 'Stage data for the glance-direct import', request: { binary: true, mediaTypes: OCTETS }, status: 204 },
  'POST /v2/images/{id}/import': { tag: 'Import', summary: 'Import data into an image', request: { ref: 'ImportRequest' }, status: 202, headers: { 'x-image-meta-store': 'The store to import into (multi-store).' } },
  'GET /v2/info/import': { tag: 'Import', summary: 'The import methods on offer', status: 200, response: obj({ 'import-methods': { type: 'object', properties: { value: { type: 'array', items: { type: 'string' } } } } }) },
  'GET /v2/images/{id}/tasks': { tag: 'Tasks', summary: "An image's import tasks", status: 200, response: obj({ tasks: { type: 'array', items: { $ref: '#/components/schemas/Task' } } }) },

  'GET /v2/images/{id}/members': { tag: 'Members', summary: "List an image's members", status: 200, response: { ref: 'Members' } },
  'POST /v2/images/{id}/members': { tag: 'Members', summary: 'Share an image with a project', request: { inline: { type: 'object', required: ['member'], properties: { member: { type: 'string' } } } }, status: 200, response: { ref: 'Member' } },
  'GET /v2/images/{id}/members/{member}': { tag: 'Members', summary: 'Show a member', status: 200, response: { ref: 'Member' } },
  'PUT /v2/images/{id}/members/{member}': { tag: 'Members', summary: "Set a member's status", request: { inline: { type: 'object', required: ['status'], properties: { status: { enum: ['pending', 'accepted', 'rejected'] } } } }, status: 200, response: { ref: 'Member' } },
  'DELETE /v2/images/{id}/members/{member}': { tag: 'Members', summary: 'Stop sharing an image with a project', status: 204 },

  'GET /v2/info/stores': { tag: 'Stores', summary: 'List the stores (multi-store)', status: 200, response: STORES },
  'GET /v2/info/stores/detail': { tag: 'Stores', summary: 'List the stores with their properties (admin)', status: 200, response: STORES },
  'DELETE /v2/stores/{store}/{id}': { tag: 'Stores', summary: "Delete an image's data from one store", status: 204 },
  'GET /v2/info/usage': { tag: 'Stores', summary: "The caller's project usage and limits", status: 200, response: obj({ usage: { type: 'object' } }) },

  'POST /v2/images/{id}/locations': { tag: 'Locations', summary: 'Add the location of a queued image (service)', request: { inline: { type: 'object', required: ['url'], properties: { url: { type: 'string' }, validation_data: { type: 'object' } } } }, status: 202 },
  'GET /v2/images/{id}/locations': { tag: 'Locations', summary: "List an image's locations (service)", status: 200, response: { inline: { type: 'array', items: { type: 'object' } } } },

  'POST /v2/tasks': { tag: 'Tasks', summary: 'Create a task', request: { ref: 'TaskRequest' }, status: 201, response: { ref: 'Task' } },
  'GET /v2/tasks': { tag: 'Tasks', summary: 'List tasks', status: 200, response: { ref: 'Tasks' }, query: { limit: 'Page size.', marker: 'Last task id of the previous page.', sort_key: 'Sort key.', sort_dir: 'asc or desc.', type: 'Filter by type.', status: 'Filter by status.' } },
  'GET /v2/tasks/{id}': { tag: 'Tasks', summary: 'Show a task', status: 200, response: { ref: 'Task' } },
  'DELETE /v2/tasks/{id}': { tag: 'Tasks', summary: 'Deleting a task is refused (405), as in Glance', status: 405 },

  'GET /v2/cache': { tag: 'Cache', summary: 'List cached and queued images', status: 200, response: obj({ cached_images: { type: 'array' }, queued_images: { type: 'array' } }) },
  'DELETE /v2/cache': { tag: 'Cache', summary: 'Clear the cache and/or the queue', status: 204, headers: { 'x-image-cache-clear-target': 'cache, queue or empty for both.' } },
  'PUT /v2/cache/{id}': { tag: 'Cache', summary: 'Queue an image for caching', status: 202 },
  'DELETE /v2/cache/{id}': { tag: 'Cache', summary: 'Remove an image from the cache and the queue', status: 204 },
  'POST /v2/cache/clean': { tag: 'Cache', summary: 'Clean stalled and invalid cache entries', status: 204 },
  'POST /v2/cache/prune': { tag: 'Cache', summary: 'Prune the cache to its size limit', status: 200, response: obj({ total_files_pruned: { type: 'integer' }, total_bytes_pruned: { type: 'integer' } }) },
  'GET /v2/cache/nodes/{id}': { tag: 'Cache', summary: 'The nodes that cache an image', status: 200, response: obj() },

  'GET /v2/metadefs/namespaces': { tag: 'Metadefs', summary: 'List namespaces', status: 200, response: { ref: 'MetadefNamespaces' }, query: NAMESPACE_LIST_QUERY },
  'POST /v2/metadefs/namespaces': { tag: 'Metadefs', summary: 'Create a namespace', request: { ref: 'MetadefNamespace' }, status: 201, response: { ref: 'MetadefNamespace' } },
  'GET /v2/metadefs/namespaces/{ns}': { tag: 'Metadefs', summary: 'Show a namespace', status: 200, response: { ref: 'MetadefNamespace' }, query: { resource_type: 'Show properties with this resource type prefix.' } },
  'PUT /v2/metadefs/namespaces/{ns}': { tag: 'Metadefs', summary: 'Update a namespace', request: { ref: 'MetadefNamespace' }, status: 200, response: { ref: 'MetadefNamespace' } },
  'DELETE /v2/metadefs/namespaces/{ns}': { tag: 'Metadefs', summary: 'Delete a namespace and its contents', status: 204 },
  'DELETE /v2/metadefs/namespaces/{ns}/objects': { tag: 'Metadefs', summary: "Delete a namespace's objects", status: 204 },
  'DELETE /v2/metadefs/namespaces/{ns}/properties': { tag: 'Metadefs', summary: "Delete a namespace's properties", status: 204 },
  'DELETE /v2/metadefs/namespaces/{ns}/tags': { tag: 'Metadefs', summary: "Delete a namespace's tags", status: 204 },
  'GET /v2/metadefs/resource_types': { tag: 'Metadefs', summary: 'List resource types', status: 200, response: obj({ resource_types: { type: 'array' } }) },
  'GET /v2/metadefs/namespaces/{ns}/resource_types': { tag: 'Metadefs', summary: "List a namespace's resource type associations", status: 200, response: { ref: 'MetadefResourceTypes' } },
  'POST /v2/metadefs/namespaces/{ns}/resource_types': { tag: 'Metadefs', summary: 'Associate a resource type', request: { ref: 'MetadefResourceType' }, status: 201, response: { ref: 'MetadefResourceType' } },
  'DELETE /v2/metadefs/namespaces/{ns}/resource_types/{rt}': { tag: 'Metadefs', summary: 'Remove a resource type association', status: 204 },
  'GET /v2/metadefs/namespaces/{ns}/objects': { tag: 'Metadefs', summary: 'List objects', status: 200, response: { ref: 'MetadefObjects' } },
  'POST /v2/metadefs/namespaces/{ns}/objects': { tag: 'Metadefs', summary: 'Create an object', request: { ref: 'MetadefObject' }, status: 201, response: { ref: 'MetadefObject' } },
  'GET /v2/metadefs/namespaces/{ns}/objects/{name}': { tag: 'Metadefs', summary: 'Show an object', status: 200, response: { ref: 'MetadefObject' } },
  'PUT /v2/metadefs/namespaces/{ns}/objects/{name}': { tag: 'Metadefs', summary: 'Update an object', request: { ref: 'MetadefObject' }, status: 200, response: { ref: 'MetadefObject' } },
  'DELETE /v2/metadefs/namespaces/{ns}/objects/{name}': { tag: 'Metadefs', summary: 'Delete an object', status: 204 },
  'GET /v2/metadefs/namespaces/{ns}/properties': { tag: 'Metadefs', summary: 'List properties', status: 200, response: { ref: 'MetadefProperties' } },
  'POST /v2/metadefs/namespaces/{ns}/properties': { tag: 'Metadefs', summary: 'Create a property', request: { ref: 'MetadefProperty' }, status: 201, response: { ref: 'MetadefProperty' } },
  'GET /v2/metadefs/namespaces/{ns}/properties/{name}': { tag: 'Metadefs', summary: 'Show a property', status: 200, response: { ref: 'MetadefProperty' } },
  'PUT /v2/metadefs/namespaces/{ns}/properties/{name}': { tag: 'Metadefs', summary: 'Update a property', request: { ref: 'MetadefProperty' }, status: 200, response: { ref: 'MetadefProperty' } },
  'DELETE /v2/metadefs/namespaces/{ns}/properties/{name}': { tag: 'Metadefs', summary: 'Delete a property', status: 204 },
  'GET /v2/metadefs/namespaces/{ns}/tags': { tag: 'Metadefs', summary: 'List tags', status: 200, response: { ref: 'MetadefTags' } },
  'POST /v2/metadefs/namespaces/{ns}/tags': { tag: 'Metadefs', summary: 'Create several tags', request: { ref: 'MetadefTags' }, status: 201, response: { ref: 'MetadefTags' }, headers: { 'x-openstack-append': 'true: add to the existing tags instead of replacing them.' } },
  'GET /v2/metadefs/namespaces/{ns}/tags/{name}': { tag: 'Metadefs', summary: 'Show a tag', status: 200, response: { ref: 'MetadefTag' } },
  'POST /v2/metadefs/namespaces/{ns}/tags/{name}': { tag: 'Metadefs', summary: 'Create a tag', status: 201, response: { ref: 'MetadefTag' } },
  'PUT /v2/metadefs/namespaces/{ns}/tags/{name}': { tag: 'Metadefs', summary: 'Rename a tag', request: { ref: 'MetadefTag' }, status: 200, response: { ref: 'MetadefTag' } },
  'DELETE /v2/metadefs/namespaces/{ns}/tags/{name}': { tag: 'Metadefs', summary: 'Delete a tag', status: 204 },
};

/** The metadef schemas' names (their /v2/schemas/metadefs/ segment) as components. */
export const METADEF_COMPONENTS: Record<string, string> = {
  namespace: 'MetadefNamespace',
  namespaces: 'MetadefNamespaces',
  resource_type: 'MetadefResourceType',
  resource_types: 'MetadefResourceTypes',
  property: 'MetadefProperty',
  properties: 'MetadefProperties',
  object: 'MetadefObject',
  objects: 'MetadefObjects',
  tag: 'MetadefTag',
  tags: 'MetadefTags',
};
for (const [segment, component] of Object.entries(METADEF_COMPONENTS)) {
  OPERATIONS[`GET /v2/schemas/metadefs/${segment}`] = { tag: 'Schemas', summary: `The metadef ${segment.replace('_', ' ')} schema`, status: 200, response: { ref: component } };
}
