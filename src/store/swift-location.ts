/**
 * Swift location URLs as Glance writes them, never with credentials in them:
 *   swift+config://<reference>/<container>/<object>        credentials from glance-swift.conf
 *   swift+http(s)://<auth host>[:port]/<auth path>/<container>/<object>   credentials from options
 * (Glance's older form put `user:key@` before the host; such URLs are still recognised, and the
 * userinfo ignored: this store only ever uses its own credentials.)
 */

export interface SwiftObjectRef {
  container: string;
  name: string;
}

/** The part of a location before `/<container>/<object>`, for this store's credentials. */
export function locationBase(reference: string | null, authAddress: string): string {
  if (reference !== null) return `swift+config://${reference}`;
  const u = new URL(authAddress);
  const scheme = u.protocol === 'https:' ? 'swift+https' : 'swift+http';
  return `${scheme}://${u.host}${u.pathname.replace(/\/+$/, '')}`;
}

export function locationUrl(base: string, ref: SwiftObjectRef): string {
  return `${base}/${encodeURIComponent(ref.container)}/${encodeURIComponent(ref.name)}`;
}

/**
 * The container and object a location names if it is one of this store's (same scheme family and
 * auth host/path, or same reference), else undefined. `containerOk` says whether a container
 * name is one this store writes to.
 */
export function parseLocation(url: string, base: string, containerOk: (container: string) => boolean): SwiftObjectRef | undefined {
  const m = /^(swift(?:\+https?|\+config)?):\/\/(.*)$/i.exec(url);
  if (!m) return undefined;
  let scheme = m[1]!.toLowerCase();
  let rest = m[2]!;
  // `swift://` is Glance's spelling of swift+https.
  if (scheme === 'swift') scheme = 'swift+https';
  // Drop userinfo (legacy user:key@host): the last @ before the first / after it ends it.
  const slash = rest.indexOf('/');
  const at = rest.lastIndexOf('@', slash < 0 ? rest.length : slash);
  if (at >= 0) rest = rest.slice(at + 1);
  const [baseScheme, baseRest] = base.split('://') as [string, string];
  if (scheme !== baseScheme) return undefined;
  const hostEnd = rest.indexOf('/');
  // Host compared case-insensitively, path exactly.
  const baseHostEnd = baseRest.indexOf('/');
  const baseHost = (baseHostEnd < 0 ? baseRest : baseRest.slice(0, baseHostEnd)).toLowerCase();
  const basePath = baseHostEnd < 0 ? '' : baseRest.slice(baseHostEnd);
  if (hostEnd < 0) return undefined;
  if (rest.slice(0, hostEnd).toLowerCase() !== baseHost) return undefined;
  const path = rest.slice(hostEnd);
  if (!path.startsWith(`${basePath}/`)) return undefined;
  const parts = path.slice(basePath.length + 1).split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  let container: string;
  let name: string;
  try {
    container = decodeURIComponent(parts[0]);
    name = decodeURIComponent(parts[1]);
  } catch {
    return undefined;
  }
  if (!containerOk(container)) return undefined;
  return { container, name };
}
