import { BadRequest } from '../domain/errors.js';
import { defaultFilters, MEMBER_STATUSES, SORT_KEYS, VISIBILITIES, type ImageFilters, type InColumn, type RangeColumn, type SortDir, type SortKey, type TimeColumn, type TimeOp } from '../domain/image-model.js';

const IN_COLUMNS: readonly InColumn[] = ['id', 'name', 'status', 'container_format', 'disk_format'];
const EQUAL_COLUMNS = ['owner', 'checksum', 'os_hash_algo', 'os_hash_value'] as const;
const RANGE_COLUMNS: readonly RangeColumn[] = ['size', 'virtual_size', 'min_ram', 'min_disk'];
const TIME_OPS: readonly TimeOp[] = ['gt', 'gte', 'lt', 'lte', 'eq', 'neq'];
const VISIBILITY_FILTERS: readonly string[] = [...VISIBILITIES, 'all'];
const MEMBER_STATUS_FILTERS: readonly string[] = [...MEMBER_STATUSES, 'all'];
/** Paging and sorting parameters: not filters. */
const NOT_FILTERS = new Set(['limit', 'marker', 'sort_key', 'sort_dir', 'sort']);

export interface ListParams {
  limit: number;
  marker?: string;
  sort: { key: SortKey; dir: SortDir }[];
  filters: ImageFilters;
}

/** `in:a,b,"c,d"` → ['a', 'b', 'c,d'] (double quotes allow commas, `\"` escapes a quote). */
export function parseInList(spec: string): string[] {
  const values: string[] = [];
  let cur = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < spec.length; i++) {
    const ch = spec[i]!;
    if (ch === '\\' && spec[i + 1] === '"') {
      cur += '"';
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
      wasQuoted = true;
    } else if (ch === ',' && !quoted) {
      values.push(cur);
      cur = '';
      wasQuoted = false;
    } else {
      cur += ch;
    }
  }
  if (quoted) throw new BadRequest(`Invalid "in" filter value: unbalanced quotes in '${spec}'`);
  if (cur !== '' || wasQuoted || values.length > 0) values.push(cur);
  return values;
}

/** An ISO 8601 timestamp (optional fraction and offset), truncated to its second, in epoch ms. */
function parseTime(value: string, key: string): number {
  const ok = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(value);
  const iso = ok && !/(Z|[+-]\d{2}:?\d{2})$/i.test(value) && value.includes('T') ? `${value}Z` : value;
  const ms = ok ? Date.parse(iso) : NaN;
  if (Number.isNaN(ms)) throw new BadRequest(`Invalid ${key} value '${value}': expected an ISO 8601 date and time, e.g. 2024-05-01T10:20:30Z`);
  return Math.floor(ms / 1000) * 1000;
}

/** Glance lower-cases os_hidden but compares protected as given (`protected=True` is 400). */
function parseBool(value: string, key: string, caseSensitive = false): boolean {
  const v = caseSensitive ? value : value.toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new BadRequest(`Invalid value '${value}' for ${key}: expected true or false`);
}

function parseInteger(value: string, key: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new BadRequest(`Unable to filter on a range with a non-numeric value: ${key}=${value}`);
  return Number(value);
}

/** Splits a comparison operator off a value: `gt:2024-…` → ['gt', '2024-…']; bare values are `eq`. */
function splitOperator(value: string): [string | null, string] {
  const m = /^([a-z]+):(.*)$/s.exec(value);
  return m && [...TIME_OPS, 'in'].includes(m[1]!) ? [m[1]!, m[2]!] : [null, value];
}

function parseSort(pairs: [string, string][]): { key: SortKey; dir: SortDir }[] {
  const keys = pairs.filter(([k]) => k === 'sort_key').map(([, v]) => v);
  const dirs = pairs.filter(([k]) => k === 'sort_dir').map(([, v]) => v);
  const sortParam = pairs.filter(([k]) => k === 'sort').map(([, v]) => v);
  const checkKey = (k: string): SortKey => {
    if (!(SORT_KEYS as readonly string[]).includes(k)) throw new BadRequest(`Invalid sort key: ${k}. It must be one of the following: ${SORT_KEYS.join(', ')}.`);
    return k as SortKey;
  };
  const checkDir = (d: string): SortDir => {
    if (d !== 'asc' && d !== 'desc') throw new BadRequest(`Invalid sort direction: ${d}`);
    return d;
  };
  if (sortParam.length > 0) {
    if (keys.length > 0 || dirs.length > 0) throw new BadRequest('The "sort" param cannot be used together with "sort_key" or "sort_dir".');
    return sortParam
      .join(',')
      .split(',')
      .filter((s) => s.trim() !== '')
      .map((part) => {
        const [k = '', d] = part.split(':').map((s) => s.trim());
        return { key: checkKey(k), dir: d === undefined || d === '' ? 'desc' : checkDir(d) };
      });
  }
  if (dirs.length > 1 && dirs.length !== keys.length) throw new BadRequest('Number of sort dirs does not match the number of sort keys');
  if (keys.length === 0 && dirs.length > 0) return [{ key: 'created_at', dir: checkDir(dirs[0]!) }];
  return keys.map((k, i) => ({ key: checkKey(k), dir: checkDir(dirs[dirs.length > 1 ? i : 0] ?? 'desc') }));
}

/** Parses the query of GET /v2/images into paging, sorting and filters, with Glance's 400s. */
export function parseListQuery(pairs: [string, string][], limits: { apiLimitMax: number; limitParamDefault: number }): ListParams {
  const last = (k: string) => pairs.filter(([key]) => key === k).map(([, v]) => v).pop();
  const limitRaw = last('limit');
  let limit = limits.limitParamDefault;
  if (limitRaw !== undefined) {
    if (!/^\d+$/.test(limitRaw)) throw new BadRequest('limit param must be an integer');
    limit = Math.min(Number(limitRaw), limits.apiLimitMax);
  }
  const filters: ImageFilters = defaultFilters();
  for (const [key, value] of pairs) {
    if (NOT_FILTERS.has(key)) continue;
    if ((IN_COLUMNS as readonly string[]).includes(key)) {
      const [op, rest] = splitOperator(value);
      if (op !== null && op !== 'in') throw new BadRequest(`Unable to filter ${key} using the operator '${op}'; only 'in' is supported.`);
      filters.in[key as InColumn] = op === 'in' ? parseInList(rest) : [value];
    } else if ((EQUAL_COLUMNS as readonly string[]).includes(key)) {
      filters.equals[key as (typeof EQUAL_COLUMNS)[number]] = value;
    } else if (key === 'visibility') {
      if (!VISIBILITY_FILTERS.includes(value)) throw new BadRequest(`Invalid visibility value: ${value}`);
      filters.visibility = value as ImageFilters['visibility'];
    } else if (key === 'member_status') {
      if (!MEMBER_STATUS_FILTERS.includes(value)) throw new BadRequest(`Invalid status value: ${value}`);
      filters.memberStatus = value as ImageFilters['memberStatus'];
    } else if (key === 'tag') {
      filters.tags.push(value);
    } else if (key === 'os_hidden') {
      filters.osHidden = parseBool(value, key);
    } else if (key === 'protected') {
      filters.protected = parseBool(value, key, true);
    } else if (key === 'created_at' || key === 'updated_at') {
      const [op, rest] = splitOperator(value);
      if (op === 'in') throw new BadRequest(`Unable to filter ${key} using the operator 'in'.`);
      filters.times.push({ column: key as TimeColumn, op: (op ?? 'eq') as TimeOp, value: parseTime(rest, key) });
    } else if (key === 'changes-since') {
      throw new BadRequest('The changes-since filter is no longer available on v2.');
    } else if (/_(min|max)$/.test(key) && (RANGE_COLUMNS as readonly string[]).includes(key.slice(0, -4))) {
      const column = key.slice(0, -4) as RangeColumn;
      const n = parseInteger(value, key);
      let range = filters.ranges.find((r) => r.column === column);
      if (!range) filters.ranges.push((range = { column }));
      if (key.endsWith('_min')) range.min = n;
      else range.max = n;
    } else if ((RANGE_COLUMNS as readonly string[]).includes(key)) {
      const n = parseInteger(value, key);
      filters.ranges.push({ column: key as RangeColumn, min: n, max: n });
    } else {
      filters.properties.push([key, value]);
    }
  }
  return { limit, marker: last('marker'), sort: parseSort(pairs), filters };
}
