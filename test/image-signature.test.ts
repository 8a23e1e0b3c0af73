import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { api, createImage, member, startServer, tempDir, upload, type TestServer } from './support/harness.js';
import { glanceEnv, requireTools, runCommand } from './support/glance-cli.js';
import { createProject, createUser, deleteProject, deleteUser, keystoneFromEnv, passwordToken, type TestUser } from './support/keystone.js';
import { makeSigner, signatureProps, type Signer } from './support/signing.js';
import { digests, filesIn, random, waitFor } from './support/streaming.js';
import { runsOn } from './support/test-database.js';

/**
 * Signed images (img_signature…): the data is checked against the signature while it is stored,
 * on upload and on import; certificates from a local directory and from a real Barbican behind the
 * test Keystone; keys and signatures made with openssl (RSA-PSS, ECC, DSA).
 */
runsOn('sqlite');

const P1 = member('p1');
const work = tempDir('ocellus-sig-');
const certDir = path.join(work, 'certs');
fs.mkdirSync(certDir);
const DATA = random(3 * 1024 * 1024 + 123);

let rsa: Signer;
let rsa2: Signer;
let ec384: Signer;
let ec521: Signer;
let dsa: Signer;
let ca: Signer;
let issued: Signer;
/** Certificate uuids in the local directory, by signer. */
const ids = new Map<Signer, string>();

function place(s: Signer, der = false): string {
  const id = randomUUID();
  fs.writeFileSync(path.join(certDir, der ? `${id}.der` : `${id}.pem`), der ? s.certDer : s.certPem);
  ids.set(s, id);
  return id;
}

before(() => {
  rsa = makeSigner(work, 'rsa', 'rsa');
  rsa2 = makeSigner(work, 'rsa2', 'rsa');
  ec384 = makeSigner(work, 'ec384', 'secp384r1');
  ec521 = makeSigner(work, 'ec521', 'secp521r1');
  dsa = makeSigner(work, 'dsa', 'dsa');
  ca = makeSigner(work, 'ca', 'rsa');
  issued = makeSigner(work, 'issued', 'secp384r1', ca);
  place(rsa);
  place(rsa2);
  place(ec384, true);
  place(ec521);
  place(dsa, true);
  place(issued);
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

const LOCAL = [
  { section: 'key_manager', name: 'backend', value: 'local' },
  { section: 'key_manager', name: 'certificate_dir', value: certDir },
];

const storeFiles = (s: TestServer) => filesIn(path.join(s.dataDir, 'images')).filter((f) => !f.startsWith('.'));

async function image(s: TestServer, id: string, headers = P1): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await api(s.url, 'GET', `/v2/images/${id}`, { headers });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** Uploads `data` to a new image with `props`; returns the answer and the image after it. */
async function signedUpload(s: TestServer, props: Record<string, string>, data = DATA, headers = P1) {
  const id = await createImage(s.url, headers, props);
  const r = await upload(s.url, id, data, headers);
  return { id, r, img: await image(s, id, headers) };
}

function refused(r: { status: number; text: string }, pattern: RegExp = /Signature verification failed/): void {
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, pattern);
}

describe('signed uploads, certificates from a local directory', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(LOCAL);
  });
  after(() => s.close());

  test('RSA-PSS, ECC secp384r1 and secp521r1, DSA signatures made by openssl are accepted: the image is active with its hashes', async () => {
    const cases: [Signer, string][] = [[rsa, 'sha256'], [ec384, 'sha384'], [ec521, 'sha512'], [dsa, 'sha224']];
    for (const [signer, hash] of cases) {
      const { r, img } = await signedUpload(s, signatureProps(work, signer, DATA, hash, ids.get(signer)!));
      assert.equal(r.status, 204, `${signer.keyType} ${hash}: ${r.text}`);
      assert.equal(img.status, 'active');
      assert.equal(img.checksum, digests(DATA).md5);
      assert.equal(img.os_hash_value, digests(DATA).multihash);
      assert.equal(img.img_signature_key_type, signer.keyType);
    }
  });

  test('bytes altered after signing: 400 Signature verification failed, nothing stored, the image back to queued', async () => {
    const before = storeFiles(s).length;
    const altered = Buffer.from(DATA);
    altered[altered.length >> 1] ^= 1;
    for (const signer of [rsa, ec384, dsa]) {
      const { r, img } = await signedUpload(s, signatureProps(work, signer, DATA, 'sha256', ids.get(signer)!), altered);
      refused(r);
      assert.equal(img.status, 'queued');
      assert.equal(img.checksum, null);
    }
    assert.equal(storeFiles(s).length, before, 'no bytes of a refused upload are left in the store');
  });

  test('a signature checked with another certificate of the same key type fails; nothing is stored', async () => {
    const before = storeFiles(s).length;
    const { r, img } = await signedUpload(s, signatureProps(work, rsa, DATA, 'sha256', ids.get(rsa2)!));
    refused(r);
    assert.equal(img.status, 'queued');
    assert.equal(storeFiles(s).length, before);
  });

  test('bad properties, unknown or non-X.509 certificates, mismatched key types: 400 before anything is read', async () => {
    const good = signatureProps(work, rsa, DATA, 'sha256', ids.get(rsa)!);
    const garbage = randomUUID();
    fs.writeFileSync(path.join(certDir, `${garbage}.pem`), 'this is not a certificate');
    const cases: [Record<string, string>, RegExp][] = [
      [{ ...good, img_signature_certificate_uuid: randomUUID() }, /Certificate not found/],
      [{ ...good, img_signature_certificate_uuid: garbage }, /not an X\.509 certificate/],
      [{ ...good, img_signature_hash_method: 'MD5' }, /Invalid signature hash method: MD5/],
      [{ ...good, img_signature_key_type: 'RSA-PKCS1' }, /Invalid signature key type: RSA-PKCS1/],
      [{ ...good, img_signature: 'not base64!' }, /base64/],
      [{ ...good, img_signature_key_type: 'ECC_SECP384R1' }, /Invalid public key type for signature key type: ECC_SECP384R1/],
      [{ ...signatureProps(work, ec521, DATA, 'sha512', ids.get(ec521)!), img_signature_key_type: 'ECC_SECP384R1' }, /secp521r1/],
      [{ ...good, img_signature_key_type: 'DSA' }, /Invalid public key type/],
    ];
    const { img_signature_certificate_uuid: _omit, ...three } = good;
    cases.push([three, /Missing property: img_signature_certificate_uuid/]);
    const before = storeFiles(s).length;
    for (const [props, pattern] of cases) {
      const { r, img } = await signedUpload(s, props);
      refused(r, pattern);
      assert.equal(img.status, 'queued', JSON.stringify(props));
    }
    assert.equal(storeFiles(s).length, before);
  });
});

describe('signed glance-direct imports', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer(LOCAL);
  });
  after(() => s.close());

  async function stageAndImport(props: Record<string, string>, data: Buffer) {
    const id = await createImage(s.url, P1, props);
    const staged = await api(s.url, 'PUT', `/v2/images/${id}/stage`, { headers: P1, body: data, contentType: 'application/octet-stream' });
    assert.equal(staged.status, 204, staged.text);
    const r = await api(s.url, 'POST', `/v2/images/${id}/import`, { headers: P1, json: { method: { name: 'glance-direct' } } });
    return { id, r };
  }

  const ended = (id: string) =>
    waitFor(`the import of ${id} to end`, async () => {
      const img = await image(s, id);
      return img.os_glance_import_task === undefined && img.status !== 'importing' ? img : undefined;
    }, 20_000, 50);

  test('a good signature: the image becomes active', async () => {
    const { id, r } = await stageAndImport(signatureProps(work, ec384, DATA, 'sha384', ids.get(ec384)!), DATA);
    assert.equal(r.status, 202, r.text);
    const img = await ended(id);
    assert.equal(img.status, 'active');
    assert.equal(img.checksum, digests(DATA).md5);
  });

  test('bytes altered after signing: the task fails with Signature verification failed, the store and staging keep nothing', async () => {
    const altered = Buffer.concat([DATA, Buffer.from('x')]);
    const before = storeFiles(s).length;
    const { id, r } = await stageAndImport(signatureProps(work, rsa, DATA, 'sha256', ids.get(rsa)!), altered);
    assert.equal(r.status, 202, r.text);
    const img = await ended(id);
    assert.equal(img.status, 'queued');
    const tasks = (await api(s.url, 'GET', `/v2/images/${id}/tasks`, { headers: P1 })).body.tasks as { status: string; message: string }[];
    assert.equal(tasks[0]!.status, 'failure');
    assert.match(tasks[0]!.message, /Signature verification failed/);
    assert.equal(storeFiles(s).length, before);
    await waitFor('the staged data to be removed', () => (filesIn(path.join(s.dataDir, 'staging')).some((f) => f.includes(id)) ? undefined : true));
  });

  test('an unknown certificate is refused when the import is asked for (400): the staged data waits for a corrected import', async () => {
    const { id, r } = await stageAndImport(signatureProps(work, rsa, DATA, 'sha256', randomUUID()), DATA);
    refused(r, /Certificate not found/);
    assert.equal((await image(s, id)).status, 'uploading');
  });
});

describe('[image_signature] verify_certificate_chain', () => {
  let s: TestServer;
  before(async () => {
    const trust = path.join(work, 'trust');
    fs.mkdirSync(trust);
    fs.writeFileSync(path.join(trust, 'ca.pem'), ca.certPem);
    s = await startServer([...LOCAL, { section: 'image_signature', name: 'verify_certificate_chain', value: 'true' }, { section: 'image_signature', name: 'trust_store', value: trust }]);
  });
  after(() => s.close());

  test('a certificate issued by a CA of the trust store is accepted; a self-signed one outside it is refused before storing', async () => {
    const ok = await signedUpload(s, signatureProps(work, issued, DATA, 'sha384', ids.get(issued)!));
    assert.equal(ok.r.status, 204, ok.r.text);
    assert.equal(ok.img.status, 'active');
    const no = await signedUpload(s, signatureProps(work, rsa, DATA, 'sha256', ids.get(rsa)!));
    refused(no.r, /is not trusted: it is not issued by a CA of the trust store/);
    assert.equal(no.img.status, 'queued');
  });
});

describe('Barbican that cannot answer', () => {
  let silent: net.Server;
  const sockets: net.Socket[] = [];
  let s: TestServer;
  before(async () => {
    // Accepts connections and never answers: the bounded wait must end it.
    silent = net.createServer((c) => sockets.push(c));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    s = await startServer([
      { section: 'barbican', name: 'barbican_endpoint', value: `http://127.0.0.1:${port}` },
      { section: 'barbican', name: 'timeout', value: '1' },
    ]);
  });
  after(async () => {
    await s.close();
    for (const c of sockets) c.destroy();
    silent.close();
  });

  test('a silent Barbican is a 503 within the timeout; no token to ask with and a refused connection are 503s; nothing is stored', async () => {
    const props = signatureProps(work, rsa, DATA, 'sha256', randomUUID());
    const headers = { ...P1, 'x-auth-token': 'some-token' };
    const t0 = Date.now();
    const { r, img } = await signedUpload(s, props, DATA, headers);
    assert.equal(r.status, 503, r.text);
    assert.match(r.text, /did not answer within 1 s/);
    assert.ok(Date.now() - t0 < 5000, 'bounded wait');
    assert.equal(img.status, 'queued');
    const none = await signedUpload(s, props, DATA, P1);
    assert.equal(none.r.status, 503, none.r.text);
    assert.match(none.r.text, /no Keystone token/);
    assert.deepEqual(storeFiles(s), []);

    // Nothing listens there any more: the connection is refused.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const down = await startServer([{ section: 'barbican', name: 'barbican_endpoint', value: `http://127.0.0.1:${port}` }]);
    try {
      const refusedConn = await signedUpload(down, props, DATA, headers);
      assert.equal(refusedConn.r.status, 503, refusedConn.r.text);
      assert.match(refusedConn.r.text, /cannot be reached \(ECONNREFUSED\)/);
      assert.deepEqual(storeFiles(down), []);
    } finally {
      await down.close();
    }
  });
});

const barbicanUrl = process.env.OCELLUS_TEST_BARBICAN_URL;
const barbicanSkip = barbicanUrl ? undefined : 'OCELLUS_TEST_BARBICAN_URL is not set (bash scripts/barbican/start.sh, or npm test, which starts it)';
if (!barbicanUrl && process.env.CI) test('a Barbican for the signed-image tests', () => assert.fail(`CI is set but ${barbicanSkip}`));

describe('certificates in a real Barbican (Castellan\'s way: the caller\'s token)', { skip: barbicanSkip }, () => {
  let project: string;
  let user: TestUser;
  let token: string;
  let s: TestServer;
  const secrets: string[] = [];

  async function barbican(method: string, p: string, body?: unknown) {
    const r = await fetch(`${barbicanUrl}/v1${p}`, { method, headers: { 'x-auth-token': token, 'content-type': 'application/json', accept: 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: r.status === 204 ? null : await r.json().catch(() => null) };
  }

  /** Stores a secret as `openstack secret store --secret-type … --payload-content-encoding base64` does; returns its uuid. */
  async function storeSecret(payload: Buffer, type = 'certificate'): Promise<string> {
    const r = await barbican('POST', '/secrets', { name: `ocellus-sig-${randomBytes(3).toString('hex')}`, secret_type: type, payload: payload.toString('base64'), payload_content_type: 'application/octet-stream', payload_content_encoding: 'base64' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const uuid = String((r.body as { secret_ref: string }).secret_ref).split('/').pop()!;
    secrets.push(uuid);
    return uuid;
  }

  before(async () => {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    project = await createProject();
    user = await createUser({ password: randomBytes(9).toString('base64url'), projectId: project, roles: ['member'] });
    token = (await passwordToken({ user: user.name, password: user.password, projectId: project })).token;
    s = await startServer([{ section: 'barbican', name: 'barbican_endpoint', value: barbicanUrl! }, { section: 'barbican', name: 'timeout', value: '20' }]);
  });
  after(async () => {
    for (const id of secrets) await barbican('DELETE', `/secrets/${id}`).catch(() => undefined);
    await s?.close();
    if (user) await deleteUser(user.id);
    if (project) await deleteProject(project);
  });

  const headers = () => ({ ...member(project), 'x-auth-token': token });

  test('PEM and DER certificates stored in Barbican verify RSA-PSS, ECC and DSA signatures; altered bytes and another certificate are refused', async () => {
    const rsaId = await storeSecret(Buffer.from(rsa.certPem));
    const ecId = await storeSecret(ec521.certDer);
    const dsaId = await storeSecret(Buffer.from(dsa.certPem));
    for (const [signer, id, hash] of [[rsa, rsaId, 'sha256'], [ec521, ecId, 'sha512'], [dsa, dsaId, 'sha256']] as const) {
      const { r, img } = await signedUpload(s, signatureProps(work, signer, DATA, hash, id), DATA, headers());
      assert.equal(r.status, 204, `${signer.keyType}: ${r.text}`);
      assert.equal(img.status, 'active');
    }
    const altered = Buffer.from(DATA);
    altered[0] ^= 0x80;
    refused((await signedUpload(s, signatureProps(work, rsa, DATA, 'sha256', rsaId), altered, headers())).r);
    const other = await storeSecret(Buffer.from(rsa2.certPem));
    refused((await signedUpload(s, signatureProps(work, rsa, DATA, 'sha256', other), DATA, headers())).r);
    assert.equal(storeFiles(s).length, 3);
  });

  test('a deleted secret, an unknown one and a secret that is no certificate are refused (400) before anything is stored', async () => {
    const id = await storeSecret(Buffer.from(rsa.certPem));
    assert.equal((await barbican('DELETE', `/secrets/${id}`)).status, 204);
    const opaque = await storeSecret(randomBytes(32), 'opaque');
    const before = storeFiles(s).length;
    for (const [uuid, pattern] of [[id, /Certificate not found/], [randomUUID(), /Certificate not found/], [opaque, /not an X\.509 certificate/]] as const) {
      const { r, img } = await signedUpload(s, signatureProps(work, rsa, DATA, 'sha256', uuid), DATA, headers());
      refused(r, pattern);
      assert.equal(img.status, 'queued');
    }
    assert.equal(storeFiles(s).length, before);
  });

  const cliSkip = requireTools(['openstack'], 'python3-openstackclient');
  test('the openstack CLI flow: secret store, then image create --property img_signature… --file (Barbican found in the catalog)', { skip: cliSkip }, async () => {
    const env = keystoneFromEnv();
    if ('skip' in env) throw new Error(env.skip);
    // Keystone authentication: Ocellus gets the caller's catalog with the token and finds Barbican in it.
    const ks = await startServer([
      { section: 'paste_deploy', name: 'flavor', value: 'keystone' },
      { section: 'keystone_authtoken', name: 'auth_url', value: env.url },
      { section: 'keystone_authtoken', name: 'username', value: 'ocellus' },
      { section: 'keystone_authtoken', name: 'password', value: env.servicePassword },
      { section: 'keystone_authtoken', name: 'project_name', value: 'service' },
    ]);
    try {
      const cliWork = tempDir('ocellus-sig-cli-');
      // The catalog's image endpoint is shared by every test using this Keystone: the CLI is pointed
      // at this test's server by clouds.yaml's image_endpoint_override instead (no env override exists).
      fs.writeFileSync(path.join(cliWork, 'clouds.yaml'), JSON.stringify({
        clouds: {
          sig: {
            auth: { auth_url: env.url, username: user.name, password: user.password, project_id: project, user_domain_id: 'default' },
            identity_api_version: '3',
            region_name: 'RegionOne',
            interface: 'public',
            image_endpoint_override: ks.url,
          },
        },
      }));
      const osEnv = { ...glanceEnv(cliWork), OS_CLIENT_CONFIG_FILE: path.join(cliWork, 'clouds.yaml'), OS_CLOUD: 'sig' };
      const openstack = async (args: string[]) => {
        const r = await runCommand('openstack', args, { env: osEnv, cwd: cliWork, timeoutMs: 90_000 });
        return { ...r, all: `openstack ${args.join(' ')}\n${r.stderr}${r.stdout}` };
      };
      fs.writeFileSync(path.join(cliWork, 'cert.pem'), ec384.certPem);
      const stored = await openstack(['secret', 'store', '--name', 'ocellus-sig-cli', '--secret-type', 'certificate', '--payload-content-type', 'application/octet-stream', '--payload-content-encoding', 'base64', '--payload', Buffer.from(ec384.certPem).toString('base64'), '-f', 'value', '-c', 'Secret href']);
      assert.equal(stored.code, 0, stored.all);
      const uuid = stored.stdout.trim().split('/').pop()!;
      secrets.push(uuid);
      const file = path.join(cliWork, 'disk.raw');
      fs.writeFileSync(file, DATA);
      const props = signatureProps(work, ec384, DATA, 'sha384', uuid);
      const propArgs = Object.entries(props).flatMap(([k, v]) => ['--property', `${k}=${v}`]);
      const created = await openstack(['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', ...propArgs, '--file', file, `sig-${randomBytes(3).toString('hex')}`, '-f', 'json']);
      assert.equal(created.code, 0, created.all);
      const id = JSON.parse(created.stdout).id as string;
      const img = await waitFor('the CLI image to be active', async () => {
        const r = await api(ks.url, 'GET', `/v2/images/${id}`, { headers: { 'x-auth-token': token } });
        return r.body?.status === 'active' ? r.body : undefined;
      }, 20_000, 100);
      assert.equal(img.checksum, digests(DATA).md5);

      fs.writeFileSync(file, Buffer.concat([DATA, Buffer.from('tampered')]));
      const bad = await openstack(['image', 'create', '--disk-format', 'raw', '--container-format', 'bare', ...propArgs, '--file', file, `sig-bad-${randomBytes(3).toString('hex')}`, '-f', 'json']);
      assert.notEqual(bad.code, 0, bad.all);
      // openstackclient shows only the status of the refused PUT /file; the image tells the rest.
      const refusedId = /400: Client Error for url: \S+\/v2\/images\/([0-9a-f-]{36})\/file/.exec(bad.all)?.[1];
      assert.ok(refusedId, bad.all);
      // The CLI deletes the image whose upload failed; if it did not, the image must hold no data.
      const after = await api(ks.url, 'GET', `/v2/images/${refusedId}`, { headers: { 'x-auth-token': token } });
      if (after.status !== 404) assert.deepEqual([after.body.status, after.body.checksum], ['queued', null], after.text);
      assert.equal(storeFiles(ks).length, 1, 'only the good image has data in the store');
      fs.rmSync(cliWork, { recursive: true, force: true });
    } finally {
      await ks.close();
    }
  });
});
