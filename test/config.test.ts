import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseIni } from '../src/config/ini.js';
import { anonymousAccess, authFlavor, ConfigError, databaseUrl, loadConfig } from '../src/config/options.js';
import { tempDir } from './support/harness.js';

/** The directory of the (legacy) file store. */
function fileDir(c: ReturnType<typeof loadConfig>): string | null {
  const file = c.stores.backends.find((b) => b.type === 'file');
  return file?.type === 'file' ? file.options.filesystem_store_datadir : null;
}

function writeConf(text: string): string {
  const file = path.join(tempDir('ocellus-conf-'), 'glance-api.conf');
  fs.writeFileSync(file, text);
  return file;
}

test('INI: sections, comments, both separators, continuation lines', () => {
  const entries = parseIni('# comment\n[DEFAULT]\nbind_port = 9393\n; other\n[glance_store]\nstores: file\n  , http\n', 'x.conf');
  assert.deepEqual(entries.map((e) => [e.section, e.name, e.value]), [
    ['DEFAULT', 'bind_port', '9393'],
    ['glance_store', 'stores', 'file\n, http'],
  ]);
  assert.throws(() => parseIni('bind_port = 1\n', 'x.conf'), /x\.conf:1: option 'bind_port' is outside any \[section\]/);
  assert.throws(() => parseIni('[DEFAULT]\nnot an option line\n', 'x.conf'), /x\.conf:2: cannot parse/);
});

test('defaults run with no file at all', () => {
  const c = loadConfig({ dataDir: '/tmp/ocellus-x' });
  assert.equal(c.DEFAULT.bind_host, '127.0.0.1');
  assert.equal(c.DEFAULT.bind_port, 9292);
  assert.equal(c.DEFAULT.image_size_cap, 1099511627776);
  assert.equal(c.DEFAULT.limit_param_default, 25);
  assert.equal(c.DEFAULT.api_limit_max, 1000);
  assert.equal(databaseUrl(c), 'sqlite:////tmp/ocellus-x/ocellus.db');
  assert.equal(fileDir(c), '/tmp/ocellus-x/images');
  assert.ok(c.image_format.disk_formats.includes('qcow2'));
});

test("Glance's section and option names are read; flags override the file", () => {
  const file = writeConf(
    '[DEFAULT]\nbind_host = 0.0.0.0\nbind_port = 9393\nimage_size_cap = 10GB\n[database]\nconnection = sqlite:////var/tmp/g.db\n[glance_store]\nfilesystem_store_datadir = /var/tmp/imgs\n[paste_deploy]\nallow_noauth_on_network = true\n',
  );
  const c = loadConfig({ configFile: file, overrides: [{ section: 'DEFAULT', name: 'bind_port', value: '9494' }] });
  assert.equal(c.DEFAULT.bind_host, '0.0.0.0');
  assert.equal(c.DEFAULT.bind_port, 9494);
  assert.equal(c.DEFAULT.image_size_cap, 10 * 1024 ** 3);
  assert.equal(databaseUrl(c), 'sqlite:////var/tmp/g.db');
  assert.equal(fileDir(c), '/var/tmp/imgs');
});

test('unknown options are warned about, with file and line', () => {
  const warnings: string[] = [];
  loadConfig({ configFile: writeConf('[DEFAULT]\nbind_prot = 1\n[keystone_authtoken]\nauth_urll = http://k\n'), warn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 2);
  assert.match(warnings[0]!, /glance-api\.conf:2 \[DEFAULT\] bind_prot: unknown option/);
  assert.match(warnings[1]!, /\[keystone_authtoken\] auth_urll: unknown option/);
});

test('invalid values are clear start-up errors', () => {
  const bad = (text: string, pattern: RegExp) => assert.throws(() => loadConfig({ configFile: writeConf(text), warn: () => undefined }), (err: unknown) => err instanceof ConfigError && pattern.test(err.message));
  bad('[DEFAULT]\nbind_port = ninety\n', /bind_port: 'ninety' is not an integer/);
  bad('[DEFAULT]\nbind_port = 70000\n', /bind_port: 70000 is above the maximum 65535/);
  bad('[DEFAULT]\nimage_size_cap = lots\n', /image_size_cap: 'lots' is not a size/);
  bad('[DEFAULT]\nhashing_algorithm = crc32\n', /hashing_algorithm: 'crc32' is not one of/);
  bad('[DEFAULT]\nlimit_param_default = 2000\n', /limit_param_default \(2000\) is above api_limit_max \(1000\)/);
  bad('[glance_store]\nstores = file,floppy\n', /glance-api\.conf:2 \[glance_store\] stores: unknown store type 'floppy'/);
  bad('[paste_deploy]\nflavor = keystone+magic\n', /flavor: 'keystone\+magic' is not one of/);
  assert.throws(() => loadConfig({ configFile: '/nonexistent/ocellus.conf' }), /cannot read config file/);
});

test('trusted-header auth (noauth) refuses a non-loopback address unless explicitly allowed; the default flavor does not', () => {
  const load = (text: string) => () => loadConfig({ configFile: writeConf(text), warn: () => undefined });
  for (const flavor of ['noauth', 'trusted-headers']) {
    const noauth = `[paste_deploy]\nflavor = ${flavor}\n`;
    assert.throws(load(`[DEFAULT]\nbind_host = 0.0.0.0\n${noauth}`), (err: unknown) => err instanceof ConfigError && /bind_host = 0\.0\.0\.0: refusing .* allow_noauth_on_network = true/.test(err.message));
    assert.throws(load(`[DEFAULT]\nbind_host = 192.0.2.10\n${noauth}`), ConfigError);
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) assert.equal(load(`[DEFAULT]\nbind_host = ${host}\n${noauth}`)().DEFAULT.bind_host, host);
    assert.equal(load(`[DEFAULT]\nbind_host = 0.0.0.0\n${noauth}allow_noauth_on_network = true\n`)().DEFAULT.bind_host, '0.0.0.0');
  }
  // The default flavor asks for the admin token: safe on any address.
  const c = load('[DEFAULT]\nbind_host = 0.0.0.0\n')();
  assert.equal(authFlavor(c), 'default');
});

test("[paste_deploy] flavor takes Glance's spellings; keystone+cache is warned about", () => {
  const keystone = '[keystone_authtoken]\nauth_url = http://k:5000/v3\nusername = glance\npassword = p\nproject_name = service\n';
  const flavorOf = (value: string, warnings: string[] = []) =>
    authFlavor(loadConfig({ configFile: writeConf(`[paste_deploy]\nflavor = ${value}\n${keystone}`), warn: (m) => warnings.push(m) }));
  assert.equal(authFlavor(loadConfig({})), 'default');
  for (const f of ['keystone', 'keystone+caching', 'keystone+cachemanagement']) {
    const warnings: string[] = [];
    assert.equal(flavorOf(f, warnings), 'keystone', f);
    assert.deepEqual(warnings, [], f);
  }
  const warnings: string[] = [];
  assert.equal(flavorOf('keystone+cache', warnings), 'keystone');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /glance-api\.conf:2 \[paste_deploy\] flavor: 'keystone\+cache' is not one of Glance's flavors; write 'keystone\+caching'/);
  assert.equal(flavorOf('noauth'), 'noauth');
  assert.equal(flavorOf('trusted-headers'), 'noauth');
  assert.equal(flavorOf(''), 'default');
  assert.throws(() => loadConfig({ configFile: writeConf('[paste_deploy]\nflavor = token\n'), warn: () => undefined }), /flavor = token needs \[token_auth\] token_file/);
});

test("[glance_store] stores (single store): Glance's types, its other types warned about and ignored, driver options read from [glance_store]", () => {
  const warnings: string[] = [];
  const c = loadConfig({ configFile: writeConf('[DEFAULT]\nbind_port = 9292\n[glance_store]\nstores = file,http\ndefault_store = file\nhttps_insecure = false\n'), warn: (m) => warnings.push(m) });
  assert.deepEqual(warnings, []);
  assert.equal(c.stores.multiStore, false);
  assert.equal(c.stores.defaultBackend, 'file');
  // The staging store of imports (node_staging_uri, default <data dir>/staging) is there too, reserved.
  assert.deepEqual(c.stores.backends.map((b) => [b.id, b.type, b.reserved]), [['file', 'file', false], ['http', 'http', false], ['os_glance_staging_store', 'file', true]]);
  const staging = c.stores.backends[2]!;
  assert.equal(staging.type === 'file' && staging.options.filesystem_store_datadir, path.join(c.dataDir, 'staging'));
  const elsewhere = loadConfig({ configFile: writeConf('[DEFAULT]\nnode_staging_uri = file:///var/tmp/ocellus-staging/\n'), warn: () => undefined });
  const moved = elsewhere.stores.backends.find((b) => b.id === 'os_glance_staging_store')!;
  assert.equal(moved.type === 'file' && moved.options.filesystem_store_datadir, '/var/tmp/ocellus-staging');
  assert.throws(() => loadConfig({ configFile: writeConf('[DEFAULT]\nnode_staging_uri = swift://x/y\n'), warn: () => undefined }), /node_staging_uri = swift:\/\/x\/y: must be a file:\/\/ URL/);
  const http = c.stores.backends[1]!;
  assert.equal(http.type === 'http' && http.options.https_insecure, false);
  const more: string[] = [];
  const d = loadConfig({
    configFile: writeConf('[glance_store]\nstores = filesystem, swift, rbd, cinder, vmware, s3\ndefault_store = swift\nswift_store_auth_address = http://127.0.0.1:8080/auth/v1.0\nswift_store_user = a:b\nswift_store_key = k\nswift_store_auth_version = 1\ns3_store_host = http://s3\ns3_store_access_key = a\ns3_store_secret_key = s\ns3_store_bucket = images\n'),
    warn: (m) => more.push(m),
  });
  assert.deepEqual(more.map((m) => /store type '(\w+)'/.exec(m)?.[1]), ['rbd', 'cinder', 'vmware']);
  assert.deepEqual(d.stores.backends.filter((b) => !b.reserved).map((b) => b.type), ['file', 'swift', 's3']);
  assert.equal(d.stores.defaultBackend, 'swift');
});

test('multi-store: enabled_backends id:type, a section per backend with its driver options, reserved stores added', () => {
  const warnings: string[] = [];
  const dir = tempDir('ocellus-conf-');
  const c = loadConfig({
    dataDir: dir,
    configFile: writeConf(
      '[DEFAULT]\nenabled_backends = fast:file, cheap:file, web:http\n[glance_store]\ndefault_backend = fast\n' +
        '[fast]\nfilesystem_store_datadir = /srv/fast\nstore_description = Fast disks\nweight = 100\n' +
        '[cheap]\nfilesystem_store_datadirs = /srv/a:1\nfilesystem_store_datadirs = /srv/b:2\nfilesystem_store_file_perm = 640\nswift_store_container = nope\n' +
        '[os_glance_staging_store]\nfilesystem_store_datadir = /srv/staging\n',
    ),
    warn: (m) => warnings.push(m),
  });
  assert.equal(c.stores.multiStore, true);
  assert.equal(c.stores.defaultBackend, 'fast');
  assert.deepEqual(c.stores.backends.map((b) => [b.id, b.type, b.reserved]), [
    ['fast', 'file', false], ['cheap', 'file', false], ['web', 'http', false],
    ['os_glance_staging_store', 'file', true], ['os_glance_tasks_store', 'file', true],
  ]);
  const [fast, cheap, , staging, tasks] = c.stores.backends;
  assert.equal(fast!.description, 'Fast disks');
  assert.equal(fast!.weight, 100);
  assert.equal(fast!.type === 'file' && fast!.options.filesystem_store_datadir, '/srv/fast');
  assert.deepEqual(cheap!.type === 'file' && cheap!.options.filesystem_store_datadirs, ['/srv/a:1', '/srv/b:2']);
  assert.equal(cheap!.type === 'file' && cheap!.options.filesystem_store_file_perm, '640');
  assert.equal(staging!.type === 'file' && staging!.options.filesystem_store_datadir, '/srv/staging');
  assert.equal(tasks!.type === 'file' && tasks!.options.filesystem_store_datadir, path.join(dir, 'os_glance_tasks_store'));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /glance-api\.conf:\d+ \[cheap\] swift_store_container: not an option of the file store, ignored/);
});

test('store configuration mistakes stop the start with the option named', () => {
  const bad = (text: string, pattern: RegExp) => assert.throws(() => loadConfig({ configFile: writeConf(text), warn: () => undefined }), (err: unknown) => err instanceof ConfigError && pattern.test(err.message), text);
  bad('[DEFAULT]\nenabled_backends = fast:file\n', /default_backend must name one of its stores/);
  bad('[DEFAULT]\nenabled_backends = fast:file\n[glance_store]\ndefault_backend = slow\n', /default_backend = slow: not one of the enabled stores \(fast\)/);
  bad('[DEFAULT]\nenabled_backends = fast\n', /'fast' is not id:type/);
  bad('[DEFAULT]\nenabled_backends = fast:floppy\n', /unknown store type 'floppy'/);
  bad('[DEFAULT]\nenabled_backends = fast:rbd\n', /store type 'rbd' is not implemented by Ocellus/);
  bad('[DEFAULT]\nenabled_backends = a:file, a:file\n[glance_store]\ndefault_backend = a\n', /store id 'a' is listed twice/);
  bad('[DEFAULT]\nenabled_backends = os_glance_staging_store:file\n', /reserved store id/);
  bad('[glance_store]\nstores = file,http\ndefault_store = http\n', /is not one of|read-only/);
  bad('[DEFAULT]\nenabled_backends = o:swift\n[glance_store]\ndefault_backend = o\n', /\[o\] the swift store needs swift_store_config_file/);
  bad('[DEFAULT]\nenabled_backends = o:s3\n[glance_store]\ndefault_backend = o\n[o]\ns3_store_host = http://x\n', /\[o\] the s3 store needs s3_store_access_key, s3_store_secret_key, s3_store_bucket/);
  bad('[DEFAULT]\nenabled_backends = f:file\n[glance_store]\ndefault_backend = f\n[f]\nfilesystem_store_file_perm = rw\n', /\[f\] filesystem_store_file_perm = rw: not an octal mode/);
  bad('[DEFAULT]\nenabled_backends = f:file\n[glance_store]\ndefault_backend = f\n[f]\nfilesystem_store_datadir = /a\nfilesystem_store_datadirs = /b:1\n', /\[f\] filesystem_store_datadir and filesystem_store_datadirs are both set/);
});

test("allow_anonymous_access: Glance's [DEFAULT] or [paste_deploy]; off by default", () => {
  const on = (text: string) => anonymousAccess(loadConfig({ configFile: writeConf(text), warn: () => undefined }));
  assert.equal(anonymousAccess(loadConfig({})), false);
  assert.equal(on('[DEFAULT]\nallow_anonymous_access = True\n'), true);
  assert.equal(on('[paste_deploy]\nflavor = noauth\nallow_anonymous_access = true\n'), true);
  assert.equal(on('[paste_deploy]\nallow_anonymous_access = false\n'), false);
});
