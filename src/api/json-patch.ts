import { BadRequest, UnsupportedMediaType } from '../domain/errors.js';
import type { PatchOp } from '../domain/image-patch.js';
import { quoteValue } from './request-helpers.js';

export const PATCH_V20 = 'application/openstack-images-v2.0-json-patch';
export const PATCH_V21 = 'application/openstack-images-v2.1-json-patch';

export type PatchStyle = 'v2.0' | 'v2.1';

/** The patch dialect of a Content-Type, or 415 with the `Accept-Patch` header Glance sends. */
export function patchStyle(contentType: string | undefined): PatchStyle {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === PATCH_V21) return 'v2.1';
  if (type === PATCH_V20) return 'v2.0';
  const err = new UnsupportedMediaType(`Unsupported Content-Type '${type}' for PATCH; use ${PATCH_V21} or ${PATCH_V20}.`);
  err.headers['accept-patch'] = `${PATCH_V20}, ${PATCH_V21}`;
  throw err;
}

/** Decodes a JSON pointer with Glance's rules: leading `/`, no empty segments, `~` only as `~0`/`~1`. */
export function parsePointer(pointer: unknown): string[] {
  if (typeof pointer !== 'string' || !pointer.startsWith('/')) throw new BadRequest(`Pointer '${quoteValue(pointer)}' does not start with '/'.`);
  const segments = pointer.slice(1).split('/');
  if (segments.some((s) => s === '')) throw new BadRequest(`Pointer '${pointer}' contains an empty segment (adjacent or trailing '/').`);
  if (segments.some((s) => /~(?![01])/.test(s))) throw new BadRequest(`Pointer '${pointer}' contains '~' not part of a recognized escape sequence.`);
  return segments.map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Parses a PATCH body (a JSON array of operations, in either dialect) into domain operations. */
export function parsePatch(body: unknown, style: PatchStyle): (PatchOp & { style: PatchStyle })[] {
  if (!Array.isArray(body)) throw new BadRequest('Request body must be a JSON array of operation objects.');
  return body.map((raw: unknown) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequest('Operations must be JSON objects.');
    const o = raw as Record<string, unknown>;
    let op: unknown;
    let path: unknown;
    if (style === 'v2.1') {
      op = o.op;
      path = o.path;
      if (op === undefined) throw new BadRequest("Unable to find 'op' in JSON Schema change");
      if (!['add', 'remove', 'replace'].includes(op as string)) throw new BadRequest(`Invalid operation: '${quoteValue(op)}'; allowed: add, remove, replace`);
      if (path === undefined) throw new BadRequest("Unable to find 'path' in JSON Schema change");
    } else {
      const keys = ['add', 'remove', 'replace'].filter((k) => k in o);
      if (keys.length !== 1) throw new BadRequest('Operation objects must contain exactly one of "add", "remove", or "replace".');
      op = keys[0];
      path = o[keys[0]!];
    }
    if (op !== 'remove' && !('value' in o)) throw new BadRequest(`Operation "${quoteValue(op)}" requires a member named "value".`);
    return { op: op as PatchOp['op'], path: parsePointer(path), value: o.value, style };
  });
}
