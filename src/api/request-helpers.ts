import type { FastifyRequest } from 'fastify';
import { BadRequest } from '../domain/errors.js';

/**
 * Deepest nesting of arrays and objects a JSON body may have. Glance's bodies are at most a few
 * levels deep (a patch is an array of flat objects); the code below them (schema validation,
 * error messages that quote values, logging) walks values recursively, so a body nested
 * thousands of levels deep would overflow the stack there and answer 500. It is refused here,
 * once, before any of that runs.
 */
export const MAX_JSON_DEPTH = 32;

/** Deepest nesting of arrays/objects in a well-formed JSON text: one pass over the text, no recursion. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  return max;
}

/**
 * The request's JSON body, with Glance's 400 for malformed JSON. Only objects and arrays are
 * bodies, nested at most MAX_JSON_DEPTH levels.
 */
export function jsonBody(request: FastifyRequest): unknown {
  const raw = request.body;
  if (typeof raw !== 'string' || raw.trim() === '') throw new BadRequest('Malformed JSON in request body.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new BadRequest('Malformed JSON in request body.');
  }
  if (parsed === null || typeof parsed !== 'object') throw new BadRequest('Unexpected body type. Expected list/dict.');
  if (jsonDepth(raw) > MAX_JSON_DEPTH) throw new BadRequest(`JSON body is nested too deeply (more than ${MAX_JSON_DEPTH} levels of arrays and objects).`);
  return parsed;
}

/**
 * A value from a request body, for an error message: strings as they are, anything else as JSON,
 * cut to a readable length. Never String(value): a parsed object whose own `toString` is not a
 * function makes String() throw.
 */
export function quoteValue(value: unknown, max = 80): string {
  const text = typeof value === 'string' ? value : value === undefined ? 'undefined' : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Absolute URL of a path on this server, as WebOb rewrites Glance's relative Location headers. */
export function absoluteUrl(request: FastifyRequest, path: string, publicEndpoint: string | null): string {
  if (publicEndpoint) return `${publicEndpoint.replace(/\/+$/, '')}${path}`;
  return `${request.protocol}://${request.headers.host ?? `${request.hostname}`}${path}`;
}

/** Query parameters as a list of pairs, keeping repeated keys (`tag=a&tag=b`). */
export function queryPairs(request: FastifyRequest): [string, string][] {
  const q = request.url.indexOf('?');
  return q < 0 ? [] : [...new URLSearchParams(request.url.slice(q + 1)).entries()];
}
