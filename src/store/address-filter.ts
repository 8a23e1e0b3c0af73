/**
 * Which network addresses the image service may contact on a user's behalf (OpenStack security
 * notes OSSN-0065 and OSSN-0090): an http location, or any redirect it leads to, must not make the
 * service fetch from its own host, the cloud's metadata service or internal networks (SSRF).
 *
 * Special-purpose addresses (loopback, link-local, private, CGNAT, multicast, documentation,
 * reserved …) are refused unless the operator allowed their network. The check runs on the
 * address actually connected to: literal-IP hosts directly, host names inside `lookup` (the hook
 * Node's net/http/https call to resolve a name before connecting), so a name that resolves to a
 * public address when a location is added and to 127.0.0.1 when it is read (DNS rebinding) is
 * still refused.
 */
import dns from 'node:dns';
import net from 'node:net';

/** An address as a number: IPv4 in 32 bits, IPv6 in 128; IPv4-mapped IPv6 is made IPv4. */
export interface IpAddress {
  readonly version: 4 | 6;
  readonly value: bigint;
}

interface Network {
  readonly version: 4 | 6;
  readonly base: bigint;
  readonly prefix: number;
}

const BITS = { 4: 32, 6: 128 } as const;

/** Parses an IPv4 or IPv6 address (an IPv6 zone `%eth0` is ignored); null if it is not one. */
export function parseIp(text: string): IpAddress | null {
  const bare = text.replace(/%[^%]*$/, '');
  if (net.isIPv4(bare)) return { version: 4, value: bare.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n) };
  if (!net.isIPv6(bare)) return null;
  const value = parseIpv6(bare);
  // ::ffff:0:0/96 is IPv4 (a dual-stack socket connects to the IPv4 address).
  if (value >> 32n === 0xffffn) return { version: 4, value: value & 0xffffffffn };
  return { version: 6, value };
}

function parseIpv6(text: string): bigint {
  // A trailing dotted quad (::ffff:1.2.3.4) stands for the last two groups.
  let s = text;
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (quad) {
    const v4 = quad[1]!.split('.').map(Number);
    s = s.slice(0, -quad[1]!.length) + `${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Formats an address the usual way (IPv6 without zero compression; enough for messages). */
export function formatIp(addr: IpAddress): string {
  if (addr.version === 4) return [24n, 16n, 8n, 0n].map((s) => String((addr.value >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((addr.value >> s) & 0xffffn).toString(16));
  return groups.join(':');
}

/** Parses `a.b.c.d/n`, `x::y/n` or a single address; throws on anything else. */
export function parseNetwork(text: string): Network {
  const [addrText, prefixText, extra] = text.trim().split('/');
  const addr = parseIp(addrText ?? '');
  const wasV6 = net.isIPv6((addrText ?? '').replace(/%[^%]*$/, ''));
  if (!addr || extra !== undefined || (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))) {
    throw new Error(`'${text}' is not an address or a network (e.g. 10.0.0.0/8, fd00::/8, 192.0.2.7)`);
  }
  // ::ffff:10.0.0.0/104 written for a mapped address means 10.0.0.0/8.
  let prefix = prefixText === undefined ? (wasV6 ? 128 : BITS[addr.version]) : Number(prefixText);
  if (wasV6 && addr.version === 4) {
    if (prefix < 96) throw new Error(`'${text}': an IPv4-mapped network needs a prefix of at least 96`);
    prefix -= 96;
  }
  if (prefix > BITS[addr.version]) throw new Error(`'${text}': prefix longer than ${BITS[addr.version]} bits`);
  return { version: addr.version, base: addr.value & mask(addr.version, prefix), prefix };
}

function mask(version: 4 | 6, prefix: number): bigint {
  const bits = BigInt(BITS[version]);
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

function contains(netw: Network, addr: IpAddress): boolean {
  return netw.version === addr.version && (addr.value & mask(netw.version, netw.prefix)) === netw.base;
}

/**
 * The special-purpose ranges (IANA's IPv4 and IPv6 special-purpose address registries), first
 * match wins: narrower entries come before the ranges that hold them.
 */
const SPECIAL: readonly [Network, string][] = (
  [
    ['0.0.0.0/32', 'unspecified address'],
    ['0.0.0.0/8', 'reserved ("this network")'],
    ['10.0.0.0/8', 'private network'],
    ['100.64.0.0/10', 'shared address space (CGNAT)'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.169.254/32', 'link-local (the cloud metadata service)'],
    ['169.254.0.0/16', 'link-local'],
    ['172.16.0.0/12', 'private network'],
    ['192.0.0.0/24', 'reserved (IETF protocol assignments)'],
    ['192.0.2.0/24', 'documentation'],
    ['192.88.99.0/24', 'reserved (6to4 relay anycast)'],
    ['192.168.0.0/16', 'private network'],
    ['198.18.0.0/15', 'reserved (benchmarking)'],
    ['198.51.100.0/24', 'documentation'],
    ['203.0.113.0/24', 'documentation'],
    ['224.0.0.0/4', 'multicast'],
    ['255.255.255.255/32', 'broadcast'],
    ['240.0.0.0/4', 'reserved'],
    ['::/128', 'unspecified address'],
    ['::1/128', 'loopback'],
    ['64:ff9b:1::/48', 'private network (local-use NAT64)'],
    ['100::/64', 'reserved (discard-only)'],
    ['2001::/23', 'reserved (IETF protocol assignments, Teredo)'],
    ['2001:db8::/32', 'documentation'],
    ['3fff::/20', 'documentation'],
    ['5f00::/16', 'reserved (segment routing)'],
    ['fc00::/7', 'private network (unique local)'],
    ['fe80::/10', 'link-local'],
    ['fec0::/10', 'private network (site-local)'],
    ['ff00::/8', 'multicast'],
  ] as const
).map(([cidr, why]) => [parseNetwork(cidr), why]);

const GLOBAL_UNICAST_V6 = parseNetwork('2000::/3');
/** IPv6 ranges that carry an IPv4 address a gateway will forward to: judged by that address. */
const EMBEDDING_V6: readonly [Network, string, (v: bigint) => bigint][] = [
  [parseNetwork('64:ff9b::/96'), 'NAT64', (v) => v & 0xffffffffn],
  [parseNetwork('2002::/16'), '6to4', (v) => (v >> 80n) & 0xffffffffn],
];

/** Thrown (through `lookup`, or by the checks) when an address may not be contacted. */
export class AddressRefused extends Error {
  readonly code = 'ERR_ADDRESS_REFUSED';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly reason: string,
  ) {
    super(host === address ? `refusing to connect to ${address}: ${reason}` : `refusing to connect to ${host} (${address}): ${reason}`);
    this.name = 'AddressRefused';
  }
}

export class AddressFilter {
  private readonly allowed: readonly Network[];

  /** `allowedNetworks`: CIDRs or single addresses contacted even though special (http_store_allowed_networks). Throws on a malformed entry. */
  constructor(allowedNetworks: readonly string[] = []) {
    this.allowed = allowedNetworks.filter((n) => n.trim() !== '').map(parseNetwork);
  }

  /** Why `ip` may not be contacted, or null if it may; a text that is no IP address is refused. */
  refusal(ip: string): string | null {
    const addr = parseIp(ip);
    return addr ? this.refusalOf(addr) : 'not an IP address';
  }

  allows(ip: string): boolean {
    return this.refusal(ip) === null;
  }

  private refusalOf(addr: IpAddress): string | null {
    if (this.allowed.some((n) => contains(n, addr))) return null;
    if (addr.version === 6) {
      for (const [netw, kind, extract] of EMBEDDING_V6) {
        if (!contains(netw, addr)) continue;
        const inner: IpAddress = { version: 4, value: extract(addr.value) };
        const why = this.refusalOf(inner);
        return why === null ? null : `${why} (${formatIp(inner)} through ${kind})`;
      }
    }
    for (const [netw, why] of SPECIAL) if (contains(netw, addr)) return why;
    if (addr.version === 6 && !contains(GLOBAL_UNICAST_V6, addr)) return 'reserved (not global unicast)';
    return null;
  }

  /**
   * Why a URL host may not be contacted as written: a literal IP is judged here (Node connects to
   * it without calling `lookup`); a host name passes, `lookup` judges what it resolves to.
   * `hostname` is URL.hostname (IPv6 in brackets accepted).
   */
  hostRefusal(hostname: string): AddressRefused | null {
    const bare = hostname.replace(/^\[(.*)\]$/, '$1');
    if (net.isIP(bare.replace(/%[^%]*$/, '')) === 0) return null;
    const why = this.refusal(bare);
    return why === null ? null : new AddressRefused(bare, bare, why);
  }

  /**
   * A drop-in for the `lookup` option of net.connect, http.request and https.request: resolves
   * `hostname` (all its addresses) and fails with AddressRefused if any of them is refused — any,
   * because Node may try each of them in turn (autoSelectFamily).
   */
  readonly lookup: net.LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { family: options.family, hints: options.hints, all: true }, (err, addresses) => {
      if (err) return callback(err, options.all ? [] : '');
      if (addresses.length === 0) {
        const none: NodeJS.ErrnoException = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
        return callback(none, options.all ? [] : '');
      }
      for (const a of addresses) {
        const why = this.refusal(a.address);
        if (why !== null) return callback(new AddressRefused(hostname, a.address, why), options.all ? [] : '');
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };

  /** Resolves `hostname` as `lookup` does, for checks before any connection; rejects with AddressRefused or the DNS error. */
  resolve(hostname: string): Promise<string[]> {
    const refused = this.hostRefusal(hostname);
    if (refused) return Promise.reject(refused);
    const bare = hostname.replace(/^\[(.*)\]$/, '$1');
    if (net.isIP(bare.replace(/%[^%]*$/, '')) !== 0) return Promise.resolve([bare]);
    return new Promise((resolve, reject) => {
      this.lookup(bare, { all: true }, (err, addresses) => {
        if (err) reject(err);
        else resolve((addresses as dns.LookupAddress[]).map((a) => a.address));
      });
    });
  }
}

/**
 * Whether `url` is one the http store may read, judged on its text only: http or https, with a
 * host. Userinfo (`user:pass@`) is accepted as glance_store does; callers must never log it.
 * Returns why not, or null.
 */
export function checkUrl(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a valid URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `scheme '${parsed.protocol.replace(/:$/, '')}' is not http or https`;
  if (parsed.hostname === '') return 'the URL has no host';
  return null;
}

/**
 * What the domain asks before recording a location a user added (before anything is fetched):
 * why the http store must not read `url`, or null. Resolves the host name, so a name of an
 * internal address is refused now; the same check runs again on every connection (redirects
 * included), so a name that changes its answer later gains nothing.
 */
export async function checkLocation(url: string, filter: AddressFilter): Promise<string | null> {
  const syntax = checkUrl(url);
  if (syntax !== null) return syntax;
  const { hostname } = new URL(url);
  try {
    await filter.resolve(hostname);
    return null;
  } catch (err) {
    if (err instanceof AddressRefused) return err.message;
    const code = (err as NodeJS.ErrnoException).code;
    return `cannot resolve host ${hostname}${code ? ` (${code})` : ''}`;
  }
}
