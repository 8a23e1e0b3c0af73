import { BadRequest } from '../domain/errors.js';
import { SORT_KEYS } from '../domain/image-service.js';
import { imageView } from './image-view.js';
import { parsePatch, patchStyle } from './json-patch.js';
import { absoluteUrl, jsonBody, queryPairs } from './request-helpers.js';
function parseSort(pairs) {
    const keys = pairs.filter(([k]) => k === 'sort_key').map(([, v]) => v);
    const dirs = pairs.filter(([k]) => k === 'sort_dir').map(([, v]) => v);
    const sortParam = pairs.filter(([k]) => k === 'sort').map(([, v]) => v);
    const checkKey = (k) => {
        if (!SORT_KEYS.includes(k))
            throw new BadRequest(`Invalid sort key: ${k}. It must be one of the following: ${SORT_KEYS.join(', ')}.`);
        return k;
    };
    const checkDir = (d) => {
        if (d !== 'asc' && d !== 'desc')
            throw new BadRequest(`Invalid sort direction: ${d}`);
        return d;
    };
    if (sortParam.length > 0) {
        if (keys.length > 0 || dirs.length > 0)
            throw new BadRequest('The "sort" param cannot be used together with "sort_key" or "sort_dir".');
        return sortParam.join(',').split(',').filter((s) => s !== '').map((part) => {
            const [k = '', d] = part.split(':').map((s) => s.trim());
            return { key: checkKey(k), dir: d === undefined || d === '' ? 'desc' : checkDir(d) };
        });
    }
    if (dirs.length > 1 && dirs.length !== keys.length)
        throw new BadRequest('Number of sort dirs does not match the number of sort keys');
    return keys.map((k, i) => ({ key: checkKey(k), dir: checkDir(dirs[dirs.length > 1 ? i : 0] ?? 'desc') }));
}
function parseLimit(value, deps) {
    if (value === undefined)
        return deps.limits.limitParamDefault;
    if (!/^\d+$/.test(value))
        throw new BadRequest('limit param must be an integer');
    return Math.min(Number(value), deps.limits.apiLimitMax);
}
export function imageRoutes(deps) {
    return async (app) => {
        app.post('/v2/images', async (request, reply) => {
            const image = await deps.images.create(request.ctx, jsonBody(request));
            return reply
                .code(201)
                .header('location', absoluteUrl(request, `/v2/images/${image.id}`, deps.publicEndpoint))
                .send(imageView(image));
        });
        app.get('/v2/images', async (request) => {
            const pairs = queryPairs(request);
            const last = (k) => pairs.filter(([key]) => key === k).map(([, v]) => v).pop();
            const limit = parseLimit(last('limit'), deps);
            const result = await deps.images.list(request.ctx, { limit, marker: last('marker'), sort: parseSort(pairs) });
            const withoutMarker = pairs.filter(([k]) => k !== 'marker');
            const qs = (p) => new URLSearchParams(p).toString();
            const body = {
                images: result.images.map(imageView),
                first: withoutMarker.length > 0 ? `/v2/images?${qs(withoutMarker)}` : '/v2/images',
                schema: '/v2/schemas/images',
            };
            if (result.nextMarker)
                body.next = `/v2/images?${qs([...withoutMarker, ['marker', result.nextMarker]])}`;
            return body;
        });
        app.get('/v2/images/:id', { config: { rejectBody: true } }, async (request) => imageView(await deps.images.get(request.ctx, request.params.id)));
        app.patch('/v2/images/:id', async (request) => {
            const style = patchStyle(request.headers['content-type']);
            const ops = parsePatch(jsonBody(request), style);
            return imageView(await deps.images.update(request.ctx, request.params.id, ops));
        });
        app.delete('/v2/images/:id', { config: { rejectBody: true } }, async (request, reply) => {
            await deps.images.delete(request.ctx, request.params.id);
            return reply.code(204).send();
        });
        app.post('/v2/images/:id/actions/deactivate', { config: { rejectBody: true } }, async (request, reply) => {
            await deps.images.deactivate(request.ctx, request.params.id);
            return reply.code(204).send();
        });
        app.post('/v2/images/:id/actions/reactivate', { config: { rejectBody: true } }, async (request, reply) => {
            await deps.images.reactivate(request.ctx, request.params.id);
            return reply.code(204).send();
        });
    };
}
//# sourceMappingURL=image-routes.js.map