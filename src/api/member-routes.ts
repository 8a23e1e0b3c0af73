import type { FastifyInstance } from 'fastify';
import { MEMBER_STATUSES, UUID_PATTERN, type MemberRecord } from '../domain/image-model.js';
import type { ApiDeps } from './app-deps.js';
import { isoSeconds } from './image-view.js';
import { jsonBody } from './request-helpers.js';

type ImageParams = { Params: { id: string } };
type MemberParams = { Params: { id: string; member: string } };

export function memberView(m: MemberRecord): Record<string, unknown> {
  return {
    member_id: m.member,
    image_id: m.image_id,
    status: m.status,
    created_at: isoSeconds(m.created_at),
    updated_at: isoSeconds(m.updated_at),
    schema: '/v2/schemas/member',
  };
}

export const MEMBER_SCHEMA = {
  name: 'member',
  properties: {
    created_at: { type: 'string', description: 'Date and time of image member creation' },
    image_id: { type: 'string', description: 'An identifier for the image', pattern: UUID_PATTERN },
    member_id: { type: 'string', description: 'An identifier for the image member (tenantId)' },
    status: { type: 'string', description: 'The status of this image member', enum: [...MEMBER_STATUSES] },
    updated_at: { type: 'string', description: 'Date and time of last modification of image member' },
    schema: { readOnly: true, type: 'string' },
  },
};

export const MEMBERS_SCHEMA = {
  name: 'members',
  properties: {
    members: { type: 'array', items: MEMBER_SCHEMA },
    schema: { type: 'string' },
  },
  links: [
    { rel: 'self', href: '{self}' },
    { rel: 'describedby', href: '{schema}' },
  ],
};

export function memberRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.get('/v2/schemas/member', { config: { rejectBody: true } }, async () => MEMBER_SCHEMA);
    app.get('/v2/schemas/members', { config: { rejectBody: true } }, async () => MEMBERS_SCHEMA);

    app.get<ImageParams>('/v2/images/:id/members', { config: { rejectBody: true } }, async (request) => ({
      members: (await deps.members.list(request.ctx, request.params.id)).map(memberView),
      schema: '/v2/schemas/members',
    }));

    // Glance answers 200 (not 201) to a new member.
    app.post<ImageParams>('/v2/images/:id/members', async (request) =>
      memberView(await deps.members.add(request.ctx, request.params.id, jsonBody(request))),
    );

    app.get<MemberParams>('/v2/images/:id/members/:member', { config: { rejectBody: true } }, async (request) =>
      memberView(await deps.members.get(request.ctx, request.params.id, request.params.member)),
    );

    app.put<MemberParams>('/v2/images/:id/members/:member', async (request) =>
      memberView(await deps.members.setStatus(request.ctx, request.params.id, request.params.member, jsonBody(request))),
    );

    app.delete<MemberParams>('/v2/images/:id/members/:member', { config: { rejectBody: true } }, async (request, reply) => {
      await deps.members.remove(request.ctx, request.params.id, request.params.member);
      return reply.code(204).send();
    });
  };
}
