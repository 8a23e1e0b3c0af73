import net from 'node:net';

/**
 * Glance's import filtering (`[import_filtering_opts]`, glance/common/utils.py
 * validate_import_uri): which URIs a user may ask the service to import from. An allow list,
 * when set, wins over its deny list. Host names are not resolved here: the HTTP client's address
 * filter (store/address-filter.ts) checks the address actually connected to.
 */
export interface ImportUriFilter {
  allowedSchemes: readonly string[];
  disallowedSchemes: readonly string[];
  allowedHosts: readonly string[];
  disallowedHosts: readonly string[];
  allowedPorts: readonly number[];
  disallowedPorts: readonly number[];
}

/** Glance's defaults: http and https, any host, ports 80 and 443 (or none given). */
export const DEFAULT_IMPORT_URI_FILTER: ImportUriFilter = {
  allowedSchemes: ['http', 'https'],
  disallowedSchemes: [],
  allowedHosts: [],
  disallowedHosts: [],
  allowedPorts: [80, 443],
  disallowedPorts: [],
};

/**
 * The host as Glance compares it: an IP address in its standard form, a host name as given; null
 * for the numeric spellings some resolvers still read as addresses (`2130706433`, `127.1`,
 * `0x7f000001`), which could slip past a host list.
 */
function normalizedHost(host: string): string | null {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (net.isIPv4(bare)) return bare;
  if (net.isIPv6(bare)) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  if (bare === '' || /^[\d.]+$/.test(bare) || /(^|\.)0x[0-9a-f]*(\.|$)/i.test(bare)) return null;
  return bare;
}

export function passesImportFilter(uri: string, filter: ImportUriFilter): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  const scheme = url.protocol.replace(/:$/, '');
  const deniedSchemes = filter.allowedSchemes.length > 0 ? [] : filter.disallowedSchemes;
  if (!scheme || (filter.allowedSchemes.length > 0 && !filter.allowedSchemes.includes(scheme)) || deniedSchemes.includes(scheme)) return false;
  // The host as written: WHATWG URLs rewrite numeric spellings (http://2130706433/ has hostname 127.0.0.1).
  const written = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(uri)?.[1] ?? '';
  const host = normalizedHost(written.toLowerCase());
  const deniedHosts = filter.allowedHosts.length > 0 ? [] : filter.disallowedHosts;
  if (host === null || (filter.allowedHosts.length > 0 && !filter.allowedHosts.includes(host)) || deniedHosts.includes(host)) return false;
  // WHATWG URLs drop a scheme's default port (http://h:80/ has port ''): Python's urlparse keeps
  // it, and 80/443 are in the default allow list either way.
  const port = url.port === '' ? null : Number(url.port);
  const deniedPorts = filter.allowedPorts.length > 0 ? [] : filter.disallowedPorts;
  if (port !== null && ((filter.allowedPorts.length > 0 && !filter.allowedPorts.includes(port)) || deniedPorts.includes(port))) return false;
  return true;
}
