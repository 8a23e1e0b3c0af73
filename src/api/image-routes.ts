import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from './app-deps.js';
import { StagedElsewhere } from '../domain/stage-host.js';
import { forwardToNode } from './forward.js';
import { imageView } from './image-view.js';
import { parseListQuery } from './list-query.js';
import { parsePatch, patchStyle } from './json-patch.js';
import { absoluteUrl, jsonBody, queryPairs } from './request-helpers.js';

type IdParams = { Params: { id: string } };
type TagParams = { Params: { id: string; tag: string } };

export function imageRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.post('/v2/images', async (request, reply) => {
      const image = await deps.creation.create(request.ctx, jsonBody(request));
      const storeIds = deps.stores.storeIds();
      if (storeIds.length > 0) reply.header('openstack-image-store-ids', storeIds.join(','));
      if (deps.imports.methods.length > 0) reply.header('openstack-image-import-methods', deps.imports.methods.join(','));
      return reply
        .code(201)
        .header('location', absoluteUrl(request, `/v2/images/${image.id}`, deps.publicEndpoint))
        .send(imageView(image, deps.locations.view(image)));
    });

    app.get('/v2/images', async (request) => {
      const pairs = queryPairs(request);
      const result = await deps.catalogue.list(request.ctx, parseListQuery(pairs, deps.limits));
      const withoutMarker = pairs.filter(([k]) => k !== 'marker');
      const qs = (p: [string, string][]) => new URLSearchParams(p).toString();
      const body: Record<string, unknown> = {
        images: result.images.map((image) => imageView(image, deps.locations.view(image))),
        first: withoutMarker.length > 0 ? `/v2/images?${qs(withoutMarker)}` : '/v2/images',
        schema: '/v2/schemas/images',
      };
      if (result.nextMarker) body.next = `/v2/images?${qs([...withoutMarker, ['marker', result.nextMarker]])}`;
      return body;
    });

    app.get<IdParams>('/v2/images/:id', { config: { rejectBody: true } }, async (request) => {
      const image = await deps.catalogue.get(request.ctx, request.params.id);
      return imageView(image, deps.locations.view(image));
    });

    app.patch<IdParams>('/v2/images/:id', async (request) => {
      const style = patchStyle(request.headers['content-type']);
      const ops = parsePatch(jsonBody(request), style);
      const image = await deps.editing.update(request.ctx, request.params.id, ops);
      return imageView(image, deps.locations.view(image));
    });

    app.delete<IdParams>('/v2/images/:id', { config: { rejectBody: true } }, async (request, reply) => {
      try {
        await deps.actions.delete(request.ctx, request.params.id);
      } catch (err) {
        // Data staged on another node is deleted there, with the image.
        if (err instanceof StagedElsewhere) return forwardToNode(request, reply, err.host);
        throw err;
      }
      return reply.code(204).send();
    });

    app.put<TagParams>('/v2/images/:id/tags/:tag', { config: { rejectBody: true } }, async (request, reply) => {
      await deps.editing.addTag(request.ctx, request.params.id, request.params.tag);
      return reply.code(204).send();
    });

    app.delete<TagParams>('/v2/images/:id/tags/:tag', { config: { rejectBody: true } }, async (request, reply) => {
      await deps.editing.removeTag(request.ctx, request.params.id, request.params.tag);
      return reply.code(204).send();
    });

    app.post<IdParams>('/v2/images/:id/actions/deactivate', { config: { rejectBody: true } }, async (request, reply) => {
      await deps.actions.deactivate(request.ctx, request.params.id);
      return reply.code(204).send();
    });

    app.post<IdParams>('/v2/images/:id/actions/reactivate', { config: { rejectBody: true } }, async (request, reply) => {
      await deps.actions.reactivate(request.ctx, request.params.id);
      return reply.code(204).send();
    });
  };
}
