import assert from 'node:assert/strict';
import dns from 'node:dns';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { AddressFilter, AddressRefused, checkLocation, checkUrl, formatIp, parseIp, parseNetwork } from '../src/store/address-filter.js';
import { shownUrl } from '../src/store/shown-url.js';

describe('address filter: default refusals', () => {
  const filter = new AddressFilter();
  const refused: [string, RegExp][] = [
    ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/],
    ['::1', /loopback/],
    ['0:0:0:0:0:0:0:1', /loopback/],
    ['169.254.169.254', /metadata/],
    ['169.254.1.1', /link-local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['febf:ffff::1', /link-local/],
    ['10.0.0.1', /private/],
    ['10.255.255.255', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['fc00::1', /private/],
    ['fd12:3456::1', /private/],
    ['fec0::1', /site-local/],
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /this network/],
    ['::', /unspecified/],
    ['100.64.0.1', /CGNAT/],
    ['100.127.255.255', /CGNAT/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['ff02::1', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['240.0.0.1', /reserved/],
    ['192.0.0.8', /reserved/],
    ['192.0.2.1', /documentation/],
    ['198.51.100.7', /documentation/],
    ['203.0.113.9', /documentation/],
    ['198.18.0.1', /benchmarking/],
    ['2001:db8::1', /documentation/],
    ['2001::1', /Teredo/],
    ['100::1', /discard/],
    ['::ffff:0:1', /reserved/], // IPv4-translated: not global unicast
    ['::1.2.3.4', /reserved/], // deprecated IPv4-compatible
    // IPv4-mapped IPv6 is the IPv4 address, in every spelling.
    ['::ffff:127.0.0.1', /loopback/],
    ['::ffff:7f00:1', /loopback/],
    ['0:0:0:0:0:ffff:a9fe:a9fe', /metadata/],
    ['::FFFF:10.1.2.3', /private/],
    // Addresses a gateway translates to IPv4 are judged by that IPv4 address.
    ['64:ff9b::7f00:1', /loopback .*NAT64/],
    ['64:ff9b::169.254.169.254', /metadata/],
    ['2002:a00:1::1', /private .*6to4/],
    ['64:ff9b:1::1', /NAT64/],
    ['not-an-ip', /not an IP/],
    ['1.2.3', /not an IP/],
  ];
  for (const [ip, why] of refused) {
    test(`refuses ${ip}`, () => {
      const reason = filter.refusal(ip);
      assert.ok(reason !== null, `${ip} should be refused`);
      assert.match(reason, why);
      assert.equal(filter.allows(ip), false);
    });
  }

  const allowed = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.1', '100.63.255.255', '169.253.255.255', '192.169.0.1', '11.0.0.1', '223.255.255.255', '2606:4700::1111', '2a00:1450:4001::1', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'];
  for (const ip of allowed) {
    test(`allows ${ip}`, () => assert.equal(filter.refusal(ip), null));
  }
});

describe('address filter: allowed networks', () => {
  test('an allowed network lets its addresses through, and nothing beside them', () => {
    const filter = new AddressFilter(['10.0.0.0/8', '127.0.0.1', 'fd00::/8', '169.254.169.254/32']);
    assert.ok(filter.allows('10.1.2.3'));
    assert.ok(filter.allows('127.0.0.1'));
    assert.ok(!filter.allows('127.0.0.2'));
    assert.ok(filter.allows('fd00::5'));
    assert.ok(!filter.allows('fc00::5'));
    assert.ok(filter.allows('::ffff:10.9.9.9'), 'a mapped address matches its IPv4 network');
    assert.ok(filter.allows('64:ff9b::a00:1'), 'NAT64 of an allowed IPv4 address');
    assert.ok(filter.allows('169.254.169.254'));
    assert.ok(!filter.allows('169.254.169.253'));
    assert.ok(!filter.allows('192.168.0.1'));
  });

  test('CIDR matching at the edges (v4 and v6)', () => {
    const filter = new AddressFilter(['192.168.8.0/22', 'fe80:0:0:1::/64']);
    assert.ok(filter.allows('192.168.8.0'));
    assert.ok(filter.allows('192.168.11.255'));
    assert.ok(!filter.allows('192.168.7.255'));
    assert.ok(!filter.allows('192.168.12.0'));
    assert.ok(filter.allows('fe80:0:0:1:ffff:ffff:ffff:ffff'));
    assert.ok(!filter.allows('fe80:0:0:2::'));
    assert.ok(!filter.allows('fe80::1'));
  });

  test('host bits in a network are ignored; /0 allows the whole family', () => {
    assert.ok(new AddressFilter(['10.1.2.3/8']).allows('10.200.0.1'));
    const all4 = new AddressFilter(['0.0.0.0/0']);
    assert.ok(all4.allows('127.0.0.1'));
    assert.ok(!all4.allows('::1'));
    assert.ok(new AddressFilter(['::/0']).allows('fe80::1'));
  });

  test('a mapped network means its IPv4 network', () => {
    const filter = new AddressFilter(['::ffff:127.0.0.0/104']);
    assert.ok(filter.allows('127.1.2.3'));
    assert.ok(!filter.allows('10.0.0.1'));
    assert.throws(() => new AddressFilter(['::ffff:0:0/95']), /at least 96/);
  });

  test('malformed entries are refused at construction; blank ones ignored', () => {
    for (const bad of ['10.0.0.0/33', 'fd00::/129', 'nonsense', '10.0.0/8', '10.0.0.0/8/1', '10.0.0.0/x', '::1/-1']) {
      assert.throws(() => new AddressFilter([bad]), /not an address|prefix/, bad);
    }
    assert.ok(!new AddressFilter(['', ' ']).allows('127.0.0.1'));
  });
});

test('parseIp and parseNetwork normalise every spelling', () => {
  assert.deepEqual(parseIp('::ffff:1.2.3.4'), { version: 4, value: 0x01020304n });
  assert.deepEqual(parseIp('1::'), { version: 6, value: 1n << 112n });
  assert.deepEqual(parseIp('::'), { version: 6, value: 0n });
  assert.equal(formatIp(parseIp('2001:db8::8:800:200c:417a')!), '2001:db8:0:0:8:800:200c:417a');
  assert.equal(formatIp(parseIp('10.0.0.1')!), '10.0.0.1');
  assert.deepEqual(parseNetwork('10.0.0.0/8'), { version: 4, base: 0x0a000000n, prefix: 8 });
  assert.deepEqual(parseNetwork('::1'), { version: 6, base: 1n, prefix: 128 });
  assert.equal(parseIp('01.2.3.4'), null, 'octal-looking quads are not addresses');
});

test('hostRefusal judges literal IPs (brackets and all) and leaves names to lookup', () => {
  const filter = new AddressFilter();
  assert.ok(filter.hostRefusal('[::1]') instanceof AddressRefused);
  assert.ok(filter.hostRefusal('127.0.0.1') instanceof AddressRefused);
  assert.ok(filter.hostRefusal('[::ffff:7f00:1]') instanceof AddressRefused);
  assert.equal(filter.hostRefusal('example.com'), null);
  assert.equal(filter.hostRefusal('8.8.8.8'), null);
  // The WHATWG URL parser already turns the odd IPv4 spellings into dotted quads.
  for (const url of ['http://2130706433/', 'http://0x7f.1/', 'http://0177.0.0.1/', 'http://127.1/']) {
    assert.ok(filter.hostRefusal(new URL(url).hostname) instanceof AddressRefused, url);
  }
});

describe('lookup', () => {
  test('a name resolving to loopback is refused, with a clear error', async () => {
    const filter = new AddressFilter();
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => filter.lookup('localhost', {}, (e) => resolve(e)));
    assert.ok(err instanceof AddressRefused);
    assert.equal(err.code, 'ERR_ADDRESS_REFUSED');
    assert.match(err.message, /refusing to connect to localhost \((127\.0\.0\.1|::1)\): loopback/);
    await assert.rejects(filter.resolve('localhost'), AddressRefused);
  });

  test('answers in both shapes Node asks for (one address, or all)', async () => {
    const filter = new AddressFilter(['127.0.0.0/8', '::1']);
    const expected = await dns.promises.lookup('localhost', { all: true });
    const one = await new Promise<[string, number | undefined]>((resolve, reject) =>
      filter.lookup('localhost', {}, (e, a, f) => (e ? reject(e) : resolve([a as string, f]))),
    );
    assert.ok(expected.some((a) => a.address === one[0] && a.family === one[1]));
    const all = await new Promise<dns.LookupAddress[]>((resolve, reject) => filter.lookup('localhost', { all: true }, (e, a) => (e ? reject(e) : resolve(a as dns.LookupAddress[]))));
    assert.deepEqual(all, expected);
  });

  test('a name that does not resolve passes the DNS error on', async () => {
    const filter = new AddressFilter();
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => filter.lookup('no-such-host.invalid', {}, (e) => resolve(e)));
    assert.ok(err && !(err instanceof AddressRefused));
    assert.match(String(err.code), /ENOTFOUND|EAI_AGAIN/);
  });

  test('Node calls it when connecting: http.request to a loopback name is refused before connecting', async () => {
    let connections = 0;
    const server = http.createServer((_req, res) => res.end('secret'));
    server.on('connection', () => connections++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const refused = new AddressFilter();
      const err = await new Promise<Error>((resolve) => {
        http.get({ host: 'localhost', port, lookup: refused.lookup, agent: false }, () => resolve(new Error('connected'))).on('error', resolve);
      });
      assert.ok(err instanceof AddressRefused, String(err));
      assert.equal(connections, 0);
      const allowed = new AddressFilter(['127.0.0.1/32', '::1']);
      const body = await new Promise<string>((resolve, reject) => {
        http
          .get({ host: 'localhost', port, lookup: allowed.lookup, agent: false }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve(text));
          })
          .on('error', reject);
      });
      assert.equal(body, 'secret');
    } finally {
      server.close();
    }
  });
});

describe('URLs', () => {
  test('checkUrl: http and https with a host; userinfo and any port accepted', () => {
    assert.equal(checkUrl('http://example.com/image.qcow2'), null);
    assert.equal(checkUrl('https://user:pass@example.com:8443/a?b=c'), null);
    assert.equal(checkUrl('http://[2606:4700::1111]:1/x'), null);
    assert.match(checkUrl('file:///etc/passwd')!, /scheme 'file'/);
    assert.match(checkUrl('swift+config://ref/container/obj')!, /scheme/);
    assert.match(checkUrl('ftp://example.com/x')!, /scheme 'ftp'/);
    assert.match(checkUrl('not a url')!, /not a valid URL/);
    assert.match(checkUrl('http://example.com:99999/')!, /not a valid URL/);
  });

  test('checkLocation resolves names and judges literal addresses', async () => {
    const filter = new AddressFilter();
    assert.match((await checkLocation('http://localhost/x', filter))!, /loopback/);
    assert.match((await checkLocation('http://169.254.169.254/latest/meta-data/', filter))!, /metadata/);
    assert.match((await checkLocation('http://[::ffff:10.0.0.1]/x', filter))!, /private/);
    assert.match((await checkLocation('http://user:secret@10.0.0.1/x', filter))!, /^(?!.*secret)/);
    assert.match((await checkLocation('file:///var/lib/glance/images/other', filter))!, /scheme/);
    assert.match((await checkLocation('http://no-such-host.invalid/x', filter))!, /cannot resolve/);
    assert.equal(await checkLocation('http://8.8.8.8/x', filter), null);
    assert.equal(await checkLocation('http://localhost/x', new AddressFilter(['127.0.0.0/8', '::1'])), null);
  });

  test('shownUrl drops userinfo and the query', () => {
    assert.equal(shownUrl('https://user:pa%3Ass@example.com:8443/a/b?sig=secret'), 'https://example.com:8443/a/b?…');
    assert.equal(shownUrl('http://example.com/a'), 'http://example.com/a');
  });
});
