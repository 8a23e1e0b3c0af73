import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, importFilterOptions, loadConfig } from '../src/config/options.js';
import { ImportSourceError } from '../src/tasks/import-sources.js';
import { canonicalIp, ImportUriFilter, type ImportFilterOptions } from '../src/tasks/import-uri-filter.js';

/** Glance's defaults ([import_filtering_opts]), Ocellus's allowed_networks empty. */
const GLANCE_DEFAULTS: ImportFilterOptions = {
  allowedSchemes: ['http', 'https'],
  disallowedSchemes: [],
  allowedHosts: [],
  disallowedHosts: [],
  allowedPorts: [80, 443],
  disallowedPorts: [],
  allowedNetworks: [],
};
/** Every network allowed: only Glance's rules (and Ocellus's http/https) decide. */
const ANY_NETWORK = ['0.0.0.0/0', '::/0'];

type Row = [uri: string, options: Partial<ImportFilterOptions>, expected: null | RegExp];

/**
 * Glance's cases (glance/tests/unit/common/test_utils.py ImportURITestCase), with every network
 * allowed so that the address rules Ocellus adds stay out of the way.
 */
const GLANCE_CASES: Row[] = [
  // test_validate_import_uri
  ['http://foo.com', {}, null],
  ['http://example.com', { allowedSchemes: ['http'], allowedHosts: ['example.com'] }, null],
  ['http://example.com:8080', { allowedSchemes: ['http'], allowedHosts: ['example.com'], allowedPorts: [8080] }, null],
  // test_invalid_import_uri
  ['', {}, /empty/],
  ['fake_uri', {}, /no scheme/],
  ['ftp://example.com', { disallowedSchemes: ['ftp'] }, /scheme 'ftp' is not one of the allowed/],
  ['ftp://example.com', { allowedSchemes: [], disallowedSchemes: ['ftp'] }, /scheme 'ftp' is not allowed/],
  ['ftp://foo.com', { allowedSchemes: [], disallowedSchemes: ['ftp'], disallowedHosts: ['foo.com'] }, /scheme 'ftp' is not allowed/],
  ['http://localhost:8484', { disallowedPorts: [8484] }, /port 8484 is not one of the allowed ports/],
  ['http://localhost:8484', { allowedPorts: [], disallowedPorts: [8484] }, /port 8484 is not allowed/],
  // test_ignored_filtering_options: an allow list makes the deny list of its kind ignored
  ['ftp://foo.com', { allowedSchemes: ['https', 'ftp'], disallowedSchemes: ['ftp'] }, /http and https URIs only, not ftp/],
  ['http://foo.com', { allowedHosts: ['example.com', 'foo.com'], disallowedHosts: ['foo.com'] }, null],
  ['http://foo.com:8484', { allowedPorts: [8080, 8484], disallowedPorts: [8484] }, null],
  // test_validate_import_uri_ip_rejection
  ['http://127.0.0.1:80/', { disallowedHosts: ['127.0.0.1'], allowedPorts: [80] }, /host 127\.0\.0\.1 is not allowed/],
  ['http://2130706433:80/', { allowedPorts: [80] }, /usual notation/],
  ['http://127.1:80/', { allowedPorts: [80] }, /usual notation/],
  ['http://10.1:80/', { allowedPorts: [80] }, /usual notation/],
  ['http://192.168.1:80/', { allowedPorts: [80] }, /usual notation/],
  ['http://127.0.0.1:80/', { allowedHosts: ['127.0.0.1'], allowedPorts: [80] }, null],
  ['http://2130706433:80/', { allowedHosts: ['127.0.0.1'], allowedPorts: [80] }, /usual notation/],
  // test_normalize_hostname: the other spellings of an IP address
  ['http://0x7f000001/', {}, /unusual notation/],
  ['http://017700000001/', {}, /usual notation/],
  ['http://0177.0.0.01/', {}, /usual notation/],
  ['http://0177.0.0.1/', {}, /usual notation/],
  ['http://0x7f.1/', {}, /spells the IP address 127\.0\.0\.1/],
  ['http://3m.com/', {}, null],
  ['http://0xdeadbeef.com/', {}, null],
  // test_validate_import_uri_ipv6_validation
  ['http://[::1]:80/', { disallowedHosts: ['::1'], allowedPorts: [80] }, /host ::1 is not allowed/],
  ['http://[2001:db8::1]:80/', { allowedHosts: ['2001:db8::1'], allowedPorts: [80] }, null],
  ['http://[::1]:80/', { disallowedHosts: ['127.0.0.1'], allowedPorts: [80] }, null],
  ['http://[::1]:80/', { disallowedHosts: ['127.0.0.1', '::1'], allowedPorts: [80] }, /host ::1 is not allowed/],
];

/** Host normalisation (IPv4/IPv6 canonical) and URI reading, beyond Glance's own cases. */
const NORMALISATION_CASES: Row[] = [
  ['http://[2001:DB8:0:0:0:0:0:1]/', { disallowedHosts: ['2001:db8::1'] }, /is not allowed/],
  ['http://[2001:db8::1]/', { disallowedHosts: ['[2001:0DB8::0001]'] }, /is not allowed/],
  ['http://[::ffff:127.0.0.1]/', { disallowedHosts: ['127.0.0.1'] }, /is not allowed/],
  ['http://Example.COM/x', { allowedHosts: ['example.com'] }, null],
  ['http://other.example/x', { allowedHosts: ['example.com'] }, /not one of the allowed hosts/],
  ['http://bücher.example/', { disallowedHosts: ['xn--bcher-kva.example'] }, /is not allowed/],
  ['HTTP://example.com/', {}, null],
  ['http://user:pw@example.com:443/', {}, null],
  // The port rule applies only to a port written in the URI; a written default port counts.
  ['https://example.com/', { allowedPorts: [8443] }, null],
  ['https://example.com:443/', { allowedPorts: [8443] }, /port 443/],
  ['http://example.com:0/', {}, /not a port/],
  ['http://example.com:65536/', {}, /not a port/],
  ['http://example.com:8x/', {}, /not a port/],
  ['http://example.com:/', {}, null],
  // Where parsers disagree, the URI is refused rather than judged on a host it will not reach.
  ['http://evil.example\\@good.example/', { allowedHosts: ['good.example'] }, /backslashes/],
  ['http://evil.example/ x', {}, /spaces/],
  ['http://%31%32%37.0.0.1/', {}, /not a valid host name|unusual notation|ambiguous/],
  ['http:example.com', {}, /no host/],
  ['http://', {}, /no host/],
  ['http://[::1/', {}, /invalid IPv6/],
  ['file:///etc/passwd', { allowedSchemes: ['file'] }, /no host/],
  ['gopher://example.com/', { allowedSchemes: [] }, /http and https URIs only/],
];

function run(rows: Row[], networks: string[]): void {
  for (const [uri, options, expected] of rows) {
    test(`${JSON.stringify(uri)} with ${JSON.stringify(options)} → ${expected === null ? 'allowed' : expected.source}`, () => {
      const filter = new ImportUriFilter({ ...GLANCE_DEFAULTS, allowedNetworks: networks, ...options });
      const why = filter.refusal(uri);
      if (expected === null) {
        assert.equal(why, null);
        assert.ok(filter.accept(uri) instanceof URL);
      } else {
        assert.ok(why !== null, `${uri} should be refused`);
        assert.match(why, expected);
        assert.throws(() => filter.accept(uri), (err) => err instanceof ImportSourceError && !err.retryable && err.message === why);
      }
    });
  }
}

describe("import URI filter: Glance's cases", () => run(GLANCE_CASES, ANY_NETWORK));
describe('import URI filter: normalisation and parsing', () => run(NORMALISATION_CASES, ANY_NETWORK));

describe('import URI filter: internal addresses (Ocellus)', () => {
  const refused: [string, RegExp][] = [
    ['http://127.0.0.1/', /loopback/],
    ['http://[::1]/', /loopback/],
    ['http://[::ffff:127.0.0.1]/', /loopback/],
    ['http://169.254.169.254/latest/meta-data/', /metadata/],
    ['http://10.1.2.3/', /private/],
    ['http://192.168.0.1/', /private/],
    ['http://[fe80::1]/', /link-local/],
    ['http://0.0.0.0/', /unspecified/],
  ];
  for (const [uri, why] of refused) {
    test(`${uri} is refused by default`, () => assert.match(new ImportUriFilter(GLANCE_DEFAULTS).refusal(uri) ?? '', why));
  }
  test('allowed_networks lets its addresses through, and nothing beside them', () => {
    const filter = new ImportUriFilter({ ...GLANCE_DEFAULTS, allowedNetworks: ['127.0.0.0/8', '10.0.0.0/8'] });
    assert.equal(filter.refusal('http://127.0.0.1/'), null);
    assert.equal(filter.refusal('http://10.9.8.7/'), null);
    assert.match(filter.refusal('http://192.168.0.1/') ?? '', /private/);
    assert.match(filter.refusal('http://[::1]/') ?? '', /loopback/);
  });
  test('an allowed host does not open an internal address (allowed_networks does)', () => {
    assert.match(new ImportUriFilter({ ...GLANCE_DEFAULTS, allowedHosts: ['127.0.0.1'] }).refusal('http://127.0.0.1/') ?? '', /loopback/);
  });
  test('a public address and a host name pass the text check', () => {
    const filter = new ImportUriFilter(GLANCE_DEFAULTS);
    assert.equal(filter.refusal('http://8.8.8.8/image.qcow2'), null);
    assert.equal(filter.refusal('https://cloud-images.example.org/noble.img'), null);
  });
});

describe('canonical IP addresses', () => {
  const cases: [string, string][] = [
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::1', '::1'],
    ['fe80::', 'fe80::'],
    ['::ffff:7f00:1', '127.0.0.1'],
    ['10.0.0.1', '10.0.0.1'],
  ];
  for (const [input, canonical] of cases) test(`${input} → ${canonical}`, () => assert.equal(canonicalIp(input), canonical));
});

describe('[import_filtering_opts] in the configuration', () => {
  test("Glance's defaults, and the helper's conversion", () => {
    const config = loadConfig({ warn: () => undefined });
    assert.deepEqual(importFilterOptions(config), GLANCE_DEFAULTS);
    const set = loadConfig({
      warn: () => undefined,
      overrides: [
        { section: 'import_filtering_opts', name: 'allowed_ports', value: '8080, 8443' },
        { section: 'import_filtering_opts', name: 'disallowed_hosts', value: "'metadata.internal', 10.0.0.1" },
        { section: 'import_filtering_opts', name: 'allowed_networks', value: '10.20.0.0/16, fd00::/8' },
      ],
    });
    const o = importFilterOptions(set);
    assert.deepEqual(o.allowedPorts, [8080, 8443]);
    assert.deepEqual(o.disallowedHosts, ['metadata.internal', '10.0.0.1']);
    assert.deepEqual(o.allowedNetworks, ['10.20.0.0/16', 'fd00::/8']);
    assert.equal(new ImportUriFilter(o).refusal('http://10.20.1.1:8080/'), null);
  });
  test('a port or a network that does not parse stops the start', () => {
    for (const [name, value, why] of [
      ['allowed_ports', '80, http', /'http' is not a port/],
      ['disallowed_ports', '0', /'0' is not a port/],
      ['allowed_networks', '10.0.0.0/40', /allowed_networks.*prefix/],
    ] as const) {
      assert.throws(() => loadConfig({ warn: () => undefined, overrides: [{ section: 'import_filtering_opts', name, value }] }), (err) => err instanceof ConfigError && why.test(err.message));
    }
  });
});
