/**
 * The client commands (`ocellus image|member|task …`) run as child processes of bin/ocellus.js
 * against a real Ocellus (default flavor: the admin token), configured by OS_AUTH_TOKEN +
 * OS_IMAGE_URL or by a clouds.yaml with OS_CLOUD: create/upload/show/list/download/update/unset/
 * delete, members, a glance-direct import and its task, the output formats, the exit codes (0, 1
 * with the API's message, 2 for usage, 130 on Ctrl-C) and the progress bar (on a TTY only); over
 * https through a proxy with openssl-made certificates, with openstack's TLS options.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { OCELLUS_BIN } from './support/child-server.js';
import { api, startServer, tempDir, type TestServer } from './support/harness.js';
import { runsOn } from './support/test-database.js';
import { httpsProxy, makeCertificates } from './support/tls.js';

runsOn('sqlite');

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

let server: TestServer;
let token: string;
let work: string;
let env: NodeJS.ProcessEnv;
const children = new Set<ChildProcess>();

/** The environment without any OS_* variable of the caller's, plus `extra`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OS_') && k !== 'OCELLUS_DEBUG'));
  return { ...base, HOME: work, ...extra };
}

function start(args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: 'pipe' | 'ignore' } = {}): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [OCELLUS_BIN, ...args], { env: opts.env ?? env, cwd: work, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'] });
  children.add(child);
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  const done = new Promise<Run>((resolve) =>
    child.once('close', (code) => {
      children.delete(child);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    }),
  );
  return { child, done };
}

/** Runs `ocellus ARGS` to its end. */
const ocellus = (args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Run> => start(args, opts).done;

/** Runs and expects exit 0; stdout as text. */
async function ok(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await ocellus(args, opts);
  assert.equal(r.code, 0, `ocellus ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.stdout.toString('utf8');
}

const json = async <T = Record<string, unknown>>(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<T> => JSON.parse(await ok([...args, '-f', 'json'], opts)) as T;

async function imageStatus(id: string): Promise<string> {
  const r = await api(server.url, 'GET', `/v2/images/${id}`, { headers: { 'x-auth-token': token } });
  return (r.body as { status: string }).status;
}

before(async () => {
  server = await startServer([{ section: 'paste_deploy', name: 'flavor', value: '' }]);
  token = fs.readFileSync(path.join(server.dataDir, 'admin-token'), 'utf8').trim();
  work = tempDir('ocellus-cli-');
  env = cleanEnv({ OS_AUTH_TOKEN: token, OS_IMAGE_URL: server.url });
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await server?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('ocellus image/member (OS_AUTH_TOKEN + OS_IMAGE_URL)', () => {
  const data = crypto.randomBytes(300_000);
  let file: string;
  let id: string;

  before(() => {
    file = path.join(work, 'disk.raw');
    fs.writeFileSync(file, data);
  });

  test('create --file uploads, with properties and tags; show, list (table and -f json)', async () => {
    const created = await json(['image', 'create', 'cli-one', '--disk-format', 'raw', '--container-format', 'bare', '--file', file, '--property', 'os_distro=cirros', '--tag', 'first', '--min-ram', '64']);
    id = created.id as string;
    assert.equal(created.status, 'active');
    assert.equal(created.size, data.length);
    assert.equal(created.checksum, crypto.createHash('md5').update(data).digest('hex'));
    assert.equal(created.os_distro, 'cirros');
    assert.deepEqual(created.tags, ['first']);
    assert.equal(created.min_ram, 64);

    const table = await ok(['image', 'list']);
    assert.match(table, /^\+-+\+-+\+-+\+\n\| ID +\| Name +\| Status +\|\n/);
    assert.match(table, new RegExp(`\\| ${id} \\| cli-one +\\| active +\\|`));
    const rows = await json<Record<string, unknown>[]>(['image', 'list', '--long', '-c', 'ID', '-c', 'Name', '-c', 'size']);
    assert.deepEqual(rows.find((r) => r.ID === id), { ID: id, Name: 'cli-one', Size: data.length });
    assert.equal((await ok(['image', 'show', 'cli-one', '-f', 'value', '-c', 'id', '-c', 'status'])).trim(), `${id}\nactive`);
    assert.deepEqual(await json<unknown[]>(['image', 'list', '--tag', 'no-such-tag']), []);
  });

  test('download to a file and to stdout: the same bytes', async () => {
    const out = path.join(work, 'copy.raw');
    await ok(['image', 'download', id, '--file', out]);
    assert.ok(fs.readFileSync(out).equals(data));
    const r = await ocellus(['image', 'save', 'cli-one']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.equals(data));
    assert.equal(r.stderr, '', 'no progress output when stderr is not a terminal');
  });

  test('update (set) and unset: name, properties, tags, protection', async () => {
    await ok(['image', 'update', id, '--name', 'cli-renamed', '--property', 'os_distro=ubuntu', '--property', 'hw_rng=yes', '--tag', 'second', '--min-disk', '2', '--protected']);
    let shown = await json(['image', 'show', 'cli-renamed']);
    assert.equal(shown.name, 'cli-renamed');
    assert.equal(shown.os_distro, 'ubuntu');
    assert.equal(shown.hw_rng, 'yes');
    assert.deepEqual([...(shown.tags as string[])].sort(), ['first', 'second']);
    assert.equal(shown.min_disk, 2);
    assert.equal(shown.protected, true);
    await ok(['image', 'unset', id, '--property', 'hw_rng', '--tag', 'first']);
    await ok(['image', 'set', id, '--unprotected']);
    shown = await json(['image', 'show', id]);
    assert.equal('hw_rng' in shown, false);
    assert.deepEqual(shown.tags, ['second']);
    assert.equal(shown.protected, false);
  });

  test('member create, set, list, delete', async () => {
    await ok(['image', 'set', id, '--shared']);
    const added = await json(['member', 'create', id, 'project-b']);
    assert.equal(added.status, 'pending');
    assert.equal((await json(['member', 'set', id, 'project-b', '--accept'])).status, 'accepted');
    assert.deepEqual(await json<unknown[]>(['member', 'list', id]), [{ 'Image ID': id, 'Member ID': 'project-b', Status: 'accepted' }]);
    await ok(['member', 'delete', id, 'project-b']);
    assert.equal((await ok(['member', 'list', id, '-f', 'value'])), '');
  });

  test('delete; then show is exit 1 with the API message', async () => {
    await ok(['image', 'delete', id]);
    const r = await ocellus(['image', 'show', id]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^ocellus: No image found with ID ${id} \\(HTTP 404`));
    assert.equal(r.stdout.length, 0);
  });
});

test('glance-direct import: stage, import --wait, then the task in task list / task show', async () => {
  const staged = path.join(work, 'staged.raw');
  fs.writeFileSync(staged, crypto.randomBytes(50_000));
  const id = (await ok(['image', 'create', 'cli-import', '--disk-format', 'raw', '--container-format', 'bare', '-f', 'value', '-c', 'id'])).trim();
  await ok(['image', 'stage', id, '--file', staged]);
  assert.equal(await imageStatus(id), 'uploading');
  const imported = await json(['image', 'import', id, '--method', 'glance-direct', '--wait']);
  assert.equal(imported.status, 'active');
  assert.equal(imported.size, 50_000);
  const tasks = await json<Record<string, unknown>[]>(['task', 'list']);
  const shown = await Promise.all(tasks.map((t) => json(['task', 'show', t.ID as string])));
  const mine = shown.find((t) => t.image_id === id);
  assert.ok(mine, `a task for ${id} among ${JSON.stringify(tasks)}`);
  assert.equal(mine.status, 'success');
  assert.equal(tasks.find((t) => t.ID === mine.id)?.Status, 'success');
});

test('clouds.yaml: OS_CLOUD or --os-cloud selects the cloud; an unknown cloud is exit 2', async () => {
  const yaml = path.join(work, 'clouds.yaml');
  fs.writeFileSync(yaml, `clouds:\n  local:\n    image_endpoint_override: ${server.url}\n    auth:\n      token: ${token}\n`);
  const id = (await ok(['image', 'create', 'cli-cloud', '-f', 'value', '-c', 'id'], { env: cleanEnv({ OS_CLOUD: 'local', OS_CLIENT_CONFIG_FILE: yaml }) })).trim();
  const listed = await ok(['image', 'list', '--os-cloud', 'local', '-f', 'value', '-c', 'ID'], { env: cleanEnv({ OS_CLIENT_CONFIG_FILE: yaml }) });
  assert.ok(listed.split('\n').includes(id), listed);
  const r = await ocellus(['image', 'list', '--os-cloud', 'elsewhere'], { env: cleanEnv({ OS_CLIENT_CONFIG_FILE: yaml }) });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /cloud elsewhere is not in/);
  await ok(['image', 'delete', id]);
});

test('https: an untrusted certificate is exit 1 with a clear message; --os-cacert, OS_CACERT, --insecure, verify: false, --os-cert/--os-key work', async (t) => {
  const certs = makeCertificates(tempDir());
  if ('skip' in certs) return t.skip(certs.skip);
  const proxy = await httpsProxy(server.url, certs);
  const mutual = await httpsProxy(server.url, certs, { clientCa: certs.clientCert });
  try {
    const tlsEnv = cleanEnv({ OS_AUTH_TOKEN: token, OS_IMAGE_URL: proxy.url });
    const id = (await ok(['image', 'create', 'cli-over-https', '--os-cacert', certs.serverCert, '-f', 'value', '-c', 'id'], { env: tlsEnv })).trim();
    const listed = (rows: { ID: string }[]) => rows.map((r) => r.ID);
    const refused = await ocellus(['image', 'list'], { env: tlsEnv });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^ocellus: the server's TLS certificate is not trusted: https:\/\/127\.0\.0\.1:\d+\/v2\/images\S*: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\); .*--os-cacert.*--insecure\)\n$/);
    assert.ok(listed(await json(['image', 'list', '--insecure'], { env: tlsEnv })).includes(id));
    assert.ok(listed(await json(['image', 'list'], { env: { ...tlsEnv, OS_CACERT: certs.serverCert } })).includes(id));
    // --verify undoes OS_INSECURE, as openstack's does.
    assert.ok(listed(await json(['image', 'list'], { env: { ...tlsEnv, OS_INSECURE: 'true' } })).includes(id));
    assert.equal((await ocellus(['image', 'list', '--verify'], { env: { ...tlsEnv, OS_INSECURE: 'true' } })).code, 1);
    const both = await ocellus(['image', 'list', '--insecure', '--verify'], { env: tlsEnv });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--insecure and --verify/);

    const yaml = path.join(work, 'clouds-tls.yaml');
    fs.writeFileSync(yaml, `clouds:\n  tls:\n    verify: false\n    image_endpoint_override: ${mutual.url}\n    auth:\n      token: ${token}\n`);
    const yamlEnv = cleanEnv({ OS_CLOUD: 'tls', OS_CLIENT_CONFIG_FILE: yaml });
    const noCert = await ocellus(['image', 'show', id], { env: yamlEnv });
    assert.equal(noCert.code, 1);
    assert.match(noCert.stderr, /^ocellus: the server ended the TLS handshake: .*--os-cert, --os-key\)\n$/);
    assert.equal((await json(['image', 'show', id, '--os-cert', certs.clientCert, '--os-key', certs.clientKey], { env: yamlEnv })).name, 'cli-over-https');
    const missing = await ocellus(['image', 'list', '--os-cacert', path.join(work, 'no-such-ca.pem')], { env: tlsEnv });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cacert \(OS_CACERT\): cannot read .*no-such-ca\.pem/);
    await ok(['image', 'delete', id, '--insecure'], { env: tlsEnv });
  } finally {
    await proxy.close();
    await mutual.close();
  }
});

test('application credentials: a missing part is exit 2 with what to set', async () => {
  const appCred = { OS_AUTH_TYPE: 'v3applicationcredential', OS_AUTH_URL: 'http://127.0.0.1:9/v3', OS_APPLICATION_CREDENTIAL_ID: 'some-id' };
  const r = await ocellus(['image', 'list'], { env: cleanEnv(appCred) });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr, 'ocellus: auth_type v3applicationcredential needs application_credential_secret (OS_APPLICATION_CREDENTIAL_SECRET)\n');
});

test('usage errors are exit 2 with a message; a wrong token is exit 1', async () => {
  for (const args of [['image', 'list', '--bogus'], ['image', 'frobnicate'], ['image', 'show'], ['image', 'create', 'x', '--min-disk', 'lots'], ['image', 'list', '-f', 'yaml'], ['member', 'set', 'a', 'b'], ['image', 'create', 'x', '--public', '--private']]) {
    const r = await ocellus(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^ocellus: \S/, args.join(' '));
  }
  const r = await ocellus(['image', 'list'], { env: cleanEnv({ OS_AUTH_TOKEN: 'wrong-token', OS_IMAGE_URL: server.url }) });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /HTTP 401/);
});

test('Ctrl-C during a slow upload: exit 130, and the image is not active', async () => {
  const id = (await ok(['image', 'create', 'cli-slow', '--disk-format', 'raw', '--container-format', 'bare', '-f', 'value', '-c', 'id'])).trim();
  const { child, done } = start(['image', 'upload', id, '--file', '-'], { stdin: 'pipe' });
  try {
    child.stdin!.write(crypto.randomBytes(64 * 1024));
    for (let i = 0; (await imageStatus(id)) !== 'saving'; i++) {
      assert.ok(i < 200, 'the upload started');
      await sleep(25);
    }
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /interrupted/);
  } finally {
    child.stdin!.destroy();
    child.kill('SIGKILL');
  }
  let status = await imageStatus(id);
  for (let i = 0; status === 'saving' && i < 100; i++) {
    await sleep(50);
    status = await imageStatus(id);
  }
  assert.equal(status, 'queued');
});

test('Ctrl-C during a download: exit 130, and the partial file is removed', async () => {
  const id = (await ok(['image', 'create', 'cli-dl', '--disk-format', 'raw', '--container-format', 'bare', '-f', 'value', '-c', 'id'])).trim();
  await api(server.url, 'PUT', `/v2/images/${id}/file`, { headers: { 'x-auth-token': token }, body: crypto.randomBytes(4_000_000), contentType: 'application/octet-stream' });
  // The download goes into a FIFO nobody reads: it stalls once the pipe is full, as on a slow disk.
  const fifo = path.join(work, 'stalled.raw');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const holder = spawn('sh', ['-c', `exec sleep 30 < '${fifo}'`], { stdio: 'ignore' });
  children.add(holder);
  const { child, done } = start(['image', 'download', id, '--file', fifo]);
  try {
    // Once the client has the FIFO open, it is past its start-up (its Ctrl-C handler is set).
    const opened = () => {
      try {
        return fs.readdirSync(`/proc/${child.pid}/fd`).some((fd) => fs.readlinkSync(`/proc/${child.pid}/fd/${fd}`) === fifo);
      } catch {
        return false;
      }
    };
    for (let i = 0; !opened(); i++) {
      assert.ok(i < 400, 'the download started');
      await sleep(25);
    }
    child.kill('SIGINT');
    const r = await done;
    assert.equal(r.code, 130, r.stderr);
    assert.equal(fs.existsSync(fifo), false, 'the partial download is removed');
  } finally {
    child.kill('SIGKILL');
    holder.kill('SIGKILL');
  }
});

const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

test('a progress bar (bytes, %, rate, ETA) on a terminal, nothing without one', { skip: hasScript ? false : 'no script(1) for a pseudo-terminal' }, async () => {
  const file = path.join(work, 'progress.raw');
  fs.writeFileSync(file, crypto.randomBytes(2_000_000));
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, OCELLUS_BIN, 'image', 'create', 'cli-progress', '--file', file, '--disk-format', 'raw', '--container-format', 'bare', '-f', 'value', '-c', 'id'].map(quote).join(' ');
  // script(1) runs the command on a pseudo-terminal: stdout and stderr both go to it, and to ours.
  const tty = await new Promise<{ code: number | null; text: string }>((resolve) => {
    const child = spawn('script', ['-qfc', command, '/dev/null'], { env, cwd: work, stdio: ['ignore', 'pipe', 'ignore'] });
    children.add(child);
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (text += s));
    child.once('close', (code) => {
      children.delete(child);
      resolve({ code, text });
    });
  });
  assert.equal(tty.code, 0, tty.text);
  assert.match(tty.text, /Uploading \[#+\] 100% {2}1\.9 MiB \/ 1\.9 MiB {2} *[\d.]+ (B|KiB|MiB|GiB)\/s {2}ETA \d+:\d\d/);
  const id = /([0-9a-f-]{36})/.exec(tty.text)?.[1];
  assert.ok(id, tty.text);
  const piped = await ocellus(['image', 'download', id, '--file', path.join(work, 'progress.copy')]);
  assert.equal(piped.code, 0, piped.stderr);
  assert.equal(piped.stderr, '');
  assert.equal(piped.stdout.length, 0);
});
