/**
 * The caller's Keystone service catalog, which glance-download needs to find the image service
 * of another region. It reaches Ocellus in one of two shapes: Keystone v3's (`endpoints` with
 * `interface`, `region`, `region_id`, `url`), as a token validation returns it, or the v2 shape
 * keystonemiddleware puts in `X-Service-Catalog` (one entry per region with `publicURL`,
 * `internalURL`, `adminURL`). Both are kept as the v3 shape.
 */
export interface CatalogEndpoint {
  region?: string;
  region_id?: string;
  /** public, internal or admin. */
  interface: string;
  url: string;
}

export interface CatalogEntry {
  type: string;
  name?: string;
  endpoints: CatalogEndpoint[];
}

const V2_INTERFACES = [
  ['publicURL', 'public'],
  ['internalURL', 'internal'],
  ['adminURL', 'admin'],
] as const;

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The catalog in `value` (v3 or v2 shape); entries and endpoints that are not usable are left out. Null when `value` is no list. */
export function parseServiceCatalog(value: unknown): CatalogEntry[] | null {
  if (!Array.isArray(value)) return null;
  const catalog: CatalogEntry[] = [];
  for (const item of value) {
    if (item === null || typeof item !== 'object') continue;
    const entry = item as Record<string, unknown>;
    const type = text(entry.type);
    if (type === undefined || !Array.isArray(entry.endpoints)) continue;
    const endpoints: CatalogEndpoint[] = [];
    for (const e of entry.endpoints as unknown[]) {
      if (e === null || typeof e !== 'object') continue;
      const ep = e as Record<string, unknown>;
      const region = text(ep.region);
      const regionId = text(ep.region_id);
      const where = { ...(region !== undefined ? { region } : {}), ...(regionId !== undefined ? { region_id: regionId } : {}) };
      const iface = text(ep.interface);
      const url = text(ep.url);
      if (iface !== undefined && url !== undefined) endpoints.push({ ...where, interface: iface, url });
      for (const [key, name] of V2_INTERFACES) {
        const v2url = text(ep[key]);
        if (v2url !== undefined) endpoints.push({ ...where, interface: name, url: v2url });
      }
    }
    const name = text(entry.name);
    catalog.push({ type, ...(name !== undefined ? { name } : {}), endpoints });
  }
  return catalog;
}
