/** The query parameters of the metadefs lists, checked with Glance's 400s. */
import { BadRequest } from '../domain/errors.js';
import { METADEF_VISIBILITIES, NAMESPACE_SORT_KEYS, TAG_SORT_KEYS, type MetadefVisibility, type NamespaceSortKey, type SortDir, type TagSortKey } from '../domain/metadef-model.js';
import type { NamespaceListParams } from '../domain/metadef-namespaces.js';
import type { TagListParams } from '../domain/metadef-tags.js';

/** The last value of each query parameter (as WebOb's `params.get`). */
export type Query = Map<string, string>;

export function queryOf(pairs: [string, string][]): Query {
  return new Map(pairs);
}

function sortDir(q: Query): SortDir {
  const dir = q.get('sort_dir') ?? 'desc';
  if (dir !== 'asc' && dir !== 'desc') throw new BadRequest(`Invalid sort direction: ${dir}`);
  return dir;
}

function sortKey<K extends string>(q: Query, keys: readonly K[]): K {
  const key = q.get('sort_key') ?? 'created_at';
  if (!(keys as readonly string[]).includes(key)) throw new BadRequest(`Invalid sort key: ${key}. It should be one of: ${keys.join(', ')}`);
  return key as K;
}

function integer(value: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(value)) throw new BadRequest('limit param must be an integer');
  return Number.parseInt(value, 10);
}

/** GET /v2/metadefs/namespaces: limit (default limit_param_default, at most api_limit_max), marker, sort, visibility, resource_types. */
export function namespaceListParams(q: Query, limits: { apiLimitMax: number; limitParamDefault: number }): NamespaceListParams {
  const given = q.get('limit');
  const limit = Math.min(limits.apiLimitMax, given === undefined ? limits.limitParamDefault : integer(given));
  if (limit < 0) throw new BadRequest('limit param must be positive');
  const visibility = q.get('visibility');
  if (visibility && !(METADEF_VISIBILITIES as readonly string[]).includes(visibility)) throw new BadRequest(`Invalid visibility value: ${visibility}`);
  const resourceTypes = q.get('resource_types');
  return {
    limit,
    marker: q.get('marker'),
    sortKey: sortKey<NamespaceSortKey>(q, NAMESPACE_SORT_KEYS),
    sortDir: sortDir(q),
    visibility: visibility ? (visibility as MetadefVisibility) : undefined,
    resourceTypes: resourceTypes === undefined ? undefined : resourceTypes.split(','),
  };
}

/** GET …/tags: no limit unless given (Glance's), marker (a tag name), sort. */
export function tagListParams(q: Query): TagListParams {
  const given = q.get('limit');
  const limit = given ? integer(given) : undefined;
  if (limit !== undefined && limit < 0) throw new BadRequest('limit param must be positive');
  return { limit: limit === 0 ? undefined : limit, marker: q.get('marker') || undefined, sortKey: sortKey<TagSortKey>(q, TAG_SORT_KEYS), sortDir: sortDir(q) };
}

/** GET …/objects takes paging parameters it then ignores (Glance's), but checks them. */
export function checkObjectListParams(q: Query): void {
  sortDir(q);
  const given = q.get('limit');
  if (given !== undefined && integer(given) <= 0) throw new BadRequest('limit param must be positive');
}

/** oslo's bool_from_string, as X-Openstack-Append is read. */
export function truthy(value: string | string[] | undefined): boolean {
  const v = (Array.isArray(value) ? value[0] : value)?.trim().toLowerCase();
  return v === '1' || v === 't' || v === 'true' || v === 'on' || v === 'y' || v === 'yes';
}
