import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequest, UnsupportedMediaType } from '../domain/errors.js';
import type { RangeRequest } from '../domain/image-data.js';
import type { ApiDeps } from './app-deps.js';
import type { Readable } from 'node:stream';
import { detachedBody } from './request-body.js';

type IdParams = { Params: { id: string } };

/** Parses `Range: bytes=a-b` (or `a-`, `-n`); several ranges are 400; anything unparsable is answered 416 by the domain. */
export function parseRange(header: string | undefined): RangeRequest | null {
  if (header === undefined) return null;
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return { unsatisfiable: true };
  const spec = m[1]!.trim();
  if (spec.includes(',')) throw new BadRequest('Multiple ranges are not supported.');
  const r = /^(\d*)-(\d*)$/.exec(spec);
  if (!r || (r[1] === '' && r[2] === '')) return { unsatisfiable: true };
  if (r[1] === '') return { suffix: Number(r[2]) };
  const start = Number(r[1]);
  const end = r[2] === '' ? null : Number(r[2]);
  if (end !== null && end < start) return { unsatisfiable: true };
  return { start, end };
}

/** A request `Content-Range: bytes a-b/*` is also a range request in Glance. */
function contentRangeAsRange(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^\s*bytes\s+(\d+-\d+)\s*\/\s*(\d+|\*)\s*$/i.exec(header);
  return m ? `bytes=${m[1]}` : header === undefined ? undefined : 'invalid';
}

/** The size the client declares: `x-openstack-image-size`, else `Content-Length` (Glance's `request.content_length or None`). */
function declaredSize(headers: Record<string, string | string[] | undefined>): number | null {
  const raw = headers['x-openstack-image-size'];
  const header = Array.isArray(raw) ? raw[0] : raw;
  const length = headers['content-length'];
  const v = header !== undefined && header.trim() !== '' ? header : Array.isArray(length) ? length[0] : length;
  if (v === undefined || v.trim() === '') return null;
  if (!/^\d+$/.test(v.trim())) throw new BadRequest(`x-openstack-image-size must be a non-negative integer, not '${v}'`);
  const n = Number(v.trim());
  return n === 0 ? null : n;
}

export function imageDataRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    // Image bytes are never parsed or buffered: the handler gets the request stream, whatever the type.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    /** PUT of image bytes (file or stage): octet-stream only; a body refused partway closes the connection. */
    const receive = async (request: FastifyRequest<IdParams>, reply: FastifyReply, take: (body: Readable, size: number | null) => Promise<void>) => {
      const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/octet-stream') {
        reply.header('connection', 'close');
        throw new UnsupportedMediaType(`Content-Type must be application/octet-stream for image data, not '${type || '(none)'}'.`);
      }
      try {
        await take(detachedBody(request.raw), declaredSize(request.headers));
      } catch (err) {
        // A body refused before any of it was read is drained by Node after the answer, as Glance's
        // server does: clients that send it all before reading (glanceclient) then see the status,
        // not a broken pipe. A body read partway cannot be resumed: the connection is closed.
        if (!request.raw.readableEnded && (request.raw.readableDidRead || request.raw.destroyed)) reply.header('connection', 'close');
        throw err;
      }
      return reply.code(204).send();
    };

    app.put<IdParams>('/v2/images/:id/file', (request, reply) =>
      receive(request, reply, (body, size) => {
        const store = request.headers['x-image-meta-store'];
        const storeId = typeof store === 'string' && store.trim() !== '' ? store.trim() : null;
        return deps.imageData.upload(request.ctx, request.params.id, body, size, storeId);
      }),
    );

    app.put<IdParams>('/v2/images/:id/stage', (request, reply) => receive(request, reply, (body, size) => deps.staging.stage(request.ctx, request.params.id, body, size)));

    app.get<IdParams>('/v2/images/:id/file', { config: { rejectBody: true } }, async (request, reply) => {
      const rangeHeader = request.headers.range ?? contentRangeAsRange(request.headers['content-range']);
      const range = parseRange(rangeHeader);
      const result = await deps.imageData.download(request.ctx, request.params.id, range);
      if (result.kind === 'no-data') return reply.code(204).send();
      reply.type('application/octet-stream');
      if (result.checksum) reply.header('content-md5', result.checksum);
      if (result.range) {
        const { start, end } = result.range;
        reply.code(206).header('content-range', `bytes ${start}-${end}/${result.size}`).header('content-length', String(end - start + 1));
      } else {
        reply.header('content-length', String(result.size));
      }
      return reply.send(result.stream);
    });
  };
}
