import { BadRequest } from '../domain/errors.js';
/** The request's JSON body, with Glance's 400 for malformed JSON. Only objects and arrays are bodies. */
export function jsonBody(request) {
    const raw = request.body;
    if (typeof raw !== 'string' || raw.trim() === '')
        throw new BadRequest('Malformed JSON in request body.');
    let parsed;
    try {
        parsed = JSON.parse(raw);
    }
    catch {
        throw new BadRequest('Malformed JSON in request body.');
    }
    if (parsed === null || typeof parsed !== 'object')
        throw new BadRequest('Unexpected body type. Expected list/dict.');
    return parsed;
}
/** Absolute URL of a path on this server, as WebOb rewrites Glance's relative Location headers. */
export function absoluteUrl(request, path, publicEndpoint) {
    if (publicEndpoint)
        return `${publicEndpoint.replace(/\/+$/, '')}${path}`;
    return `${request.protocol}://${request.headers.host ?? `${request.hostname}`}${path}`;
}
/** Query parameters as a list of pairs, keeping repeated keys (`tag=a&tag=b`). */
export function queryPairs(request) {
    const q = request.url.indexOf('?');
    return q < 0 ? [] : [...new URLSearchParams(request.url.slice(q + 1)).entries()];
}
//# sourceMappingURL=request-helpers.js.map