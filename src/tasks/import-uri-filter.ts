/**
 * Which URIs web-download may fetch: Glance's `[import_filtering_opts]` rules (glance/common/
 * utils.py validate_import_uri and normalize_hostname), then Ocellus's own: only http and https,
 * and no special-purpose address (loopback, link-local, private, reserved …; see AddressFilter)
 * unless `allowedNetworks` holds it. The same filter judges every redirect before it is followed.
 *
 * The host is read from the URI's text the way Python's urllib.parse reads it, not from the WHATWG
 * URL that Node connects with: that parser turns `0x7f.1`, `2130706433` or `%31%32%37.0.0.1` into
 * 127.0.0.1, which would let such spellings slip past a host list. Other spellings of IP
 * addresses are refused (as Glance does), and a URI whose host the two parsers read differently
 * (`http://a.example\@b.example/`) is refused as ambiguous, so the host judged is the host connected to.
 */
import net from 'node:net';
import { domainToASCII } from 'node:url';
import { AddressFilter, parseIp } from '../store/address-filter.js';
import { ImportSourceError } from './import-sources.js';

export interface ImportFilterOptions {
  allowedSchemes: string[];
  disallowedSchemes: string[];
  allowedHosts: string[];
  disallowedHosts: string[];
  allowedPorts: number[];
  disallowedPorts: number[];
  /** Ocellus: CIDRs (or single addresses) where internal addresses may be fetched from. */
  allowedNetworks: string[];
}

/** A URI as the filter reads it. */
interface ReadUri {
  scheme: string;
  /** The host as compared with the host lists: a canonical IP address, or the name in ASCII (punycode), lower case. */
  host: string;
  isIp: boolean;
  /** The port written in the URI; null when none is (then no port rule applies, as in Glance). */
  port: number | null;
  url: URL;
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

export class ImportUriFilter {
  /** Judges the addresses actually connected to (host names resolved, redirects included). */
  readonly addresses: AddressFilter;
  private readonly allowedSchemes: readonly string[];
  private readonly disallowedSchemes: readonly string[];
  private readonly allowedHosts: ReadonlySet<string>;
  private readonly disallowedHosts: ReadonlySet<string>;
  private readonly allowedPorts: ReadonlySet<number>;
  private readonly disallowedPorts: ReadonlySet<number>;

  /** Throws on a malformed network, host or port in the options. */
  constructor(o: ImportFilterOptions) {
    const schemes = (list: string[]) => list.map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
    const hosts = (list: string[]) => new Set(list.map((h) => h.trim()).filter((h) => h !== '').map(listedHost));
    const ports = (list: number[]) => {
      for (const p of list) if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`${p} is not a port (1-65535)`);
      return new Set(list);
    };
    // Glance: when both lists of a kind are set, only the allow list counts.
    this.allowedSchemes = schemes(o.allowedSchemes);
    this.disallowedSchemes = this.allowedSchemes.length > 0 ? [] : schemes(o.disallowedSchemes);
    this.allowedHosts = hosts(o.allowedHosts);
    this.disallowedHosts = this.allowedHosts.size > 0 ? new Set() : hosts(o.disallowedHosts);
    this.allowedPorts = ports(o.allowedPorts);
    this.disallowedPorts = this.allowedPorts.size > 0 ? new Set() : ports(o.disallowedPorts);
    this.addresses = new AddressFilter(o.allowedNetworks);
  }

  /**
   * null when the URI may be fetched as far as its text tells; else why not (the import request
   * is answered 400 with it). A host name is not resolved here: the download refuses a name of
   * an internal address when it connects.
   */
  refusal(uri: string): string | null {
    const read = this.read(uri);
    return typeof read === 'string' ? read : null;
  }

  /** The URL to connect to for `uri`; ImportSourceError (not retryable) when the filter refuses it. */
  accept(uri: string): URL {
    const read = this.read(uri);
    if (typeof read === 'string') throw new ImportSourceError(read, false);
    return read.url;
  }

  private read(uri: string): ReadUri | string {
    const split = splitUri(uri);
    if (typeof split === 'string') return split;
    const { scheme, rawHost, portText } = split;
    // Glance's order: scheme, host, port.
    if (this.allowedSchemes.length > 0 && !this.allowedSchemes.includes(scheme)) return `scheme '${scheme}' is not one of the allowed schemes (${this.allowedSchemes.join(', ')})`;
    if (this.disallowedSchemes.includes(scheme)) return `scheme '${scheme}' is not allowed`;
    if (rawHost === '') return 'the URI has no host';
    const host = normalizeHost(rawHost);
    if (typeof host === 'string') return host;
    if (this.allowedHosts.size > 0 && !this.allowedHosts.has(host.key)) return `host ${rawHost} is not one of the allowed hosts`;
    if (this.disallowedHosts.has(host.key)) return `host ${rawHost} is not allowed`;
    let port: number | null = null;
    if (portText !== '') {
      if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) return `'${portText}' is not a port`;
      port = Number(portText);
    }
    if (port !== null && this.allowedPorts.size > 0 && !this.allowedPorts.has(port)) return `port ${port} is not one of the allowed ports (${[...this.allowedPorts].join(', ')})`;
    if (port !== null && this.disallowedPorts.has(port)) return `port ${port} is not allowed`;
    // Glance's rules pass; what Ocellus adds follows.
    if (DEFAULT_PORTS[scheme] === undefined) return `web-download reads http and https URIs only, not ${scheme}`;
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      return 'not a valid URL';
    }
    const urlHost = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const urlKey = host.isIp ? canonicalIp(urlHost) : urlHost;
    const urlPort = url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port);
    if (url.protocol !== `${scheme}:` || urlKey !== host.key || urlPort !== (port ?? DEFAULT_PORTS[scheme])) {
      return `the URI's host is ambiguous (${rawHost} or ${url.host}?)`;
    }
    if (host.isIp) {
      const why = this.addresses.refusal(urlHost);
      if (why !== null) return `refusing to connect to ${urlHost}: ${why}`;
    }
    return { scheme, host: host.key, isIp: host.isIp, port, url };
  }
}

/**
 * Scheme, host and port as Python's urllib.parse.urlsplit finds them (the scheme and host lower
 * case; the host between the last `@` and the port, or inside `[…]`; '' when there is none). Whitespace, control
 * characters and backslashes are refused outright: parsers disagree about them.
 */
function splitUri(uri: string): { scheme: string; rawHost: string; portText: string } | string {
  if (uri === '') return 'the URI is empty';
  if (/[\x00-\x20\x7f\\]/.test(uri)) return 'the URI contains spaces, control characters or backslashes';
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(uri);
  if (!m) return 'the URI has no scheme';
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (!rest.startsWith('//')) return { scheme, rawHost: '', portText: '' };
  const authority = rest.slice(2).split(/[/?#]/, 1)[0]!;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  let rawHost: string;
  let portText: string;
  if (hostPort.includes('[')) {
    const end = hostPort.indexOf(']');
    if (!hostPort.startsWith('[') || end < 0) return 'the URI has an invalid IPv6 host';
    rawHost = hostPort.slice(1, end);
    const after = hostPort.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) return 'the URI has an invalid IPv6 host';
    portText = after.slice(1);
  } else {
    const colon = hostPort.indexOf(':');
    rawHost = colon < 0 ? hostPort : hostPort.slice(0, colon);
    portText = colon < 0 ? '' : hostPort.slice(colon + 1);
  }
  return { scheme, rawHost: rawHost.toLowerCase(), portText };
}

/**
 * Glance's normalize_hostname: an IP address in its canonical form; digits-and-dots that are not
 * a dotted quad (`2130706433`, `127.1`, `0177.0.0.1`) refused; a name kept (as ASCII), unless the
 * URL standard would read it as an IP address after all (`0x7f.1`), which Glance refuses by
 * failing to resolve it.
 */
function normalizeHost(host: string): { key: string; isIp: boolean } | string {
  if (net.isIPv4(host) || net.isIPv6(host)) return { key: canonicalIp(host), isIp: true };
  if (/^[\d.]+$/.test(host)) return `'${host}' is not an IP address in the usual notation (four decimal numbers without leading zeros)`;
  const ascii = domainToASCII(host);
  if (ascii === '') return `'${host}' is not a valid host name`;
  if (net.isIP(ascii.replace(/^\[(.*)\]$/, '$1')) !== 0) return `'${host}' spells the IP address ${ascii} in an unusual notation`;
  return { key: ascii, isIp: false };
}

/** An entry of allowed_hosts/disallowed_hosts as it is compared: IP canonical, name as ASCII, lower case. */
function listedHost(entry: string): string {
  const bare = entry.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (net.isIPv4(bare) || net.isIPv6(bare)) return canonicalIp(bare);
  return domainToASCII(bare) || bare;
}

/**
 * An IP address in one spelling: IPv4 dotted quad; IPv6 in RFC 5952 form (lower case, the
 * longest run of zero groups compressed). IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is its IPv4
 * address, so a host list entry 127.0.0.1 covers both spellings.
 */
export function canonicalIp(text: string): string {
  const addr = parseIp(text);
  if (!addr) return text.toLowerCase();
  if (addr.version === 4) return [24n, 16n, 8n, 0n].map((s) => String((addr.value >> s) & 0xffn)).join('.');
  const groups: number[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(Number((addr.value >> s) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // RFC 5952: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
