import type { FastifyReply, FastifyRequest } from 'fastify';
import { ServiceUnavailable } from '../domain/errors.js';

/** Headers a forwarded call keeps: who is calling and how (the caller's token acts on the other node). */
const FORWARDED = ['x-auth-token', 'x-service-token', 'x-service-catalog', 'x-openstack-request-id', 'x-image-meta-store', 'content-type', 'x-user-id', 'x-tenant-id', 'x-project-id', 'x-roles', 'x-identity-status'];

/**
 * The call concerns data staged on another node (its own staging directory): it goes to that
 * node as it came, with the caller's credentials, and that node's answer comes back — as Glance
 * proxies calls to `os_glance_stage_host`.
 */
export async function forwardToNode(request: FastifyRequest, reply: FastifyReply, host: string): Promise<FastifyReply> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED) {
    const v = request.headers[name];
    if (typeof v === 'string') headers[name] = v;
  }
  let answer: Response;
  try {
    answer = await fetch(`${host.replace(/\/+$/, '')}${request.url}`, {
      method: request.method,
      headers,
      body: typeof request.body === 'string' && request.body !== '' ? request.body : undefined,
      signal: AbortSignal.timeout(60_000),
    });
  } catch (err) {
    throw new ServiceUnavailable(`The node holding the staged data (${host}) cannot be reached: ${(err as Error).message}`);
  }
  const text = await answer.text();
  reply.code(answer.status);
  const type = answer.headers.get('content-type');
  if (type) reply.type(type);
  return reply.send(text === '' ? undefined : text);
}
