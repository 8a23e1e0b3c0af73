/**
 * Routes of what a metadefs namespace holds (api-v2.md §11): its objects, property definitions
 * and tags, under /v2/metadefs/namespaces/{ns}/.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from './app-deps.js';
import { checkObjectListParams, queryOf, tagListParams, truthy } from './metadef-query.js';
import { objectView, propertyView, tagView } from './metadef-view.js';
import { jsonBody, queryPairs } from './request-helpers.js';

type NsParams = { Params: { ns: string } };
type NameParams = { Params: { ns: string; name: string } };

const reject = { config: { rejectBody: true } };

export function metadefContentRoutes(deps: ApiDeps) {
  const { objects, properties, tags } = deps.metadefs;
  return async (app: FastifyInstance) => {
    // Objects.
    app.get<NsParams>('/v2/metadefs/namespaces/:ns/objects', async (request) => {
      checkObjectListParams(queryOf(queryPairs(request)));
      const { namespace, objects: list } = await objects.list(request.ctx, request.params.ns);
      // Glance's schema link here lacks the leading slash.
      return { objects: list.map((o) => objectView(namespace.namespace, o)), schema: 'v2/schemas/metadefs/objects' };
    });
    app.post<NsParams>('/v2/metadefs/namespaces/:ns/objects', async (request, reply) => {
      const { namespace, object } = await objects.create(request.ctx, request.params.ns, jsonBody(request));
      return reply.code(201).send(objectView(namespace.namespace, object));
    });
    app.get<NameParams>('/v2/metadefs/namespaces/:ns/objects/:name', reject, async (request) => {
      const { namespace, object } = await objects.show(request.ctx, request.params.ns, request.params.name);
      return objectView(namespace.namespace, object);
    });
    app.put<NameParams>('/v2/metadefs/namespaces/:ns/objects/:name', async (request) => {
      const { namespace, object } = await objects.update(request.ctx, request.params.ns, request.params.name, jsonBody(request));
      return objectView(namespace.namespace, object);
    });
    app.delete<NameParams>('/v2/metadefs/namespaces/:ns/objects/:name', reject, async (request, reply) => {
      await objects.remove(request.ctx, request.params.ns, request.params.name);
      return reply.code(204).send();
    });

    // Property definitions: the list is a map by name, not paged.
    app.get<NsParams>('/v2/metadefs/namespaces/:ns/properties', reject, async (request) => ({
      properties: Object.fromEntries((await properties.list(request.ctx, request.params.ns)).map((p) => [p.name, propertyView(p.definition)])),
    }));
    app.post<NsParams>('/v2/metadefs/namespaces/:ns/properties', async (request, reply) => {
      const { property } = await properties.create(request.ctx, request.params.ns, jsonBody(request));
      return reply.code(201).send(propertyView(property.definition, property.name));
    });
    app.get<NameParams>('/v2/metadefs/namespaces/:ns/properties/:name', async (request) => {
      const resourceType = queryOf(queryPairs(request)).get('resource_type');
      const { property } = await properties.show(request.ctx, request.params.ns, request.params.name, resourceType || undefined);
      return propertyView(property.definition, property.name);
    });
    app.put<NameParams>('/v2/metadefs/namespaces/:ns/properties/:name', async (request) => {
      const { property } = await properties.update(request.ctx, request.params.ns, request.params.name, jsonBody(request));
      return propertyView(property.definition, property.name);
    });
    app.delete<NameParams>('/v2/metadefs/namespaces/:ns/properties/:name', async (request, reply) => {
      await properties.remove(request.ctx, request.params.ns, request.params.name);
      return reply.code(204).send();
    });

    // Tags.
    app.get<NsParams>('/v2/metadefs/namespaces/:ns/tags', async (request) => ({
      tags: (await tags.list(request.ctx, request.params.ns, tagListParams(queryOf(queryPairs(request))))).map((t) => ({ name: t.name })),
    }));
    app.post<NsParams>('/v2/metadefs/namespaces/:ns/tags', async (request, reply) => {
      const names = await tags.createMany(request.ctx, request.params.ns, jsonBody(request), truthy(request.headers['x-openstack-append']));
      return reply.code(201).send({ tags: names.map((name) => ({ name })) });
    });
    app.get<NameParams>('/v2/metadefs/namespaces/:ns/tags/:name', reject, async (request) => tagView(await tags.show(request.ctx, request.params.ns, request.params.name)));
    app.post<NameParams>('/v2/metadefs/namespaces/:ns/tags/:name', reject, async (request, reply) => {
      return reply.code(201).send(tagView(await tags.create(request.ctx, request.params.ns, request.params.name)));
    });
    app.put<NameParams>('/v2/metadefs/namespaces/:ns/tags/:name', async (request) =>
      tagView(await tags.update(request.ctx, request.params.ns, request.params.name, jsonBody(request))),
    );
    app.delete<NameParams>('/v2/metadefs/namespaces/:ns/tags/:name', reject, async (request, reply) => {
      await tags.remove(request.ctx, request.params.ns, request.params.name);
      return reply.code(204).send();
    });
  };
}
