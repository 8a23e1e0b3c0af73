/**
 * Routes of metadefs namespaces and resource types (api-v2.md §11): /v2/metadefs/namespaces,
 * /v2/metadefs/namespaces/{ns} (and the deletion of all its objects, properties or tags),
 * /v2/metadefs/resource_types and /v2/metadefs/namespaces/{ns}/resource_types.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from './app-deps.js';
import { namespaceListParams, queryOf } from './metadef-query.js';
import { associationView, createdNamespaceView, namespaceDetailView, namespaceHref, namespaceView, resourceTypeView } from './metadef-view.js';
import { absoluteUrl, jsonBody, queryPairs } from './request-helpers.js';

type NsParams = { Params: { ns: string } };
type RtParams = { Params: { ns: string; rt: string } };

const reject = { config: { rejectBody: true } };

export function metadefNamespaceRoutes(deps: ApiDeps) {
  const { namespaces, resourceTypes } = deps.metadefs;
  return async (app: FastifyInstance) => {
    app.get('/v2/metadefs/namespaces', async (request) => {
      const pairs = queryPairs(request);
      const page = await namespaces.list(request.ctx, namespaceListParams(queryOf(pairs), deps.limits));
      // Links keep the request's parameters but the marker (Glance's urlencode of them).
      const params = new URLSearchParams(pairs.filter(([k]) => k !== 'marker'));
      const query = params.toString();
      const body: Record<string, unknown> = {
        namespaces: page.namespaces.map(({ namespace, associations }) => {
          const view = namespaceView(namespace);
          if (associations.length > 0) view.resource_type_associations = associations.map(associationView);
          return view;
        }),
        first: query ? `/v2/metadefs/namespaces?${query}` : '/v2/metadefs/namespaces',
        schema: '/v2/schemas/metadefs/namespaces',
      };
      if (page.next !== null) {
        params.set('marker', page.next);
        body.next = `/v2/metadefs/namespaces?${params.toString()}`;
      }
      return body;
    });

    app.post('/v2/metadefs/namespaces', async (request, reply) => {
      const created = await namespaces.create(request.ctx, jsonBody(request));
      reply.header('location', absoluteUrl(request, encodeURI(namespaceHref(created.namespace.namespace)), deps.publicEndpoint));
      return reply.code(201).send(createdNamespaceView(created.namespace, created.input));
    });

    app.get<NsParams>('/v2/metadefs/namespaces/:ns', reject, async (request) => {
      const resourceType = queryOf(queryPairs(request)).get('resource_type');
      return namespaceDetailView(await namespaces.show(request.ctx, request.params.ns, resourceType || undefined));
    });

    app.put<NsParams>('/v2/metadefs/namespaces/:ns', async (request) => namespaceView(await namespaces.update(request.ctx, request.params.ns, jsonBody(request))));

    app.delete<NsParams>('/v2/metadefs/namespaces/:ns', reject, async (request, reply) => {
      await namespaces.remove(request.ctx, request.params.ns);
      return reply.code(204).send();
    });

    for (const contents of ['objects', 'properties', 'tags'] as const) {
      app.delete<NsParams>(`/v2/metadefs/namespaces/:ns/${contents}`, async (request, reply) => {
        await namespaces.removeContents(request.ctx, request.params.ns, contents);
        return reply.code(204).send();
      });
    }

    app.get('/v2/metadefs/resource_types', reject, async (request) => ({ resource_types: (await resourceTypes.list(request.ctx)).map(resourceTypeView) }));

    app.get<NsParams>('/v2/metadefs/namespaces/:ns/resource_types', reject, async (request) => ({
      resource_type_associations: (await resourceTypes.associations(request.ctx, request.params.ns)).map(associationView),
    }));

    app.post<NsParams>('/v2/metadefs/namespaces/:ns/resource_types', async (request, reply) => {
      const association = await resourceTypes.associate(request.ctx, request.params.ns, jsonBody(request));
      return reply.code(201).send(associationView(association));
    });

    app.delete<RtParams>('/v2/metadefs/namespaces/:ns/resource_types/:rt', reject, async (request, reply) => {
      await resourceTypes.dissociate(request.ctx, request.params.ns, request.params.rt);
      return reply.code(204).send();
    });
  };
}
