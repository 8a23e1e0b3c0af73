import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { Source } from './support/data-source.js';
import { admin, api, createImage, member, startServer, upload, type TestServer } from './support/harness.js';
import { waitForStatus } from './support/streaming.js';
import { createProject, createUser, deleteProject, deleteUser, keystoneSkip, type TestUser, keystoneFlavorOverrides } from './support/keystone.js';

/**
 * The web console (/console/) in a real browser: Debian's chromium driven by playwright-core,
 * against real Ocellus servers — trusted headers (noauth), the admin token (default flavor), and
 * Keystone when the test Keystone is there. Signs in on each strategy, creates and uploads with
 * the progress bar, edits, shares and accepts, deactivates, deletes, and shows the API's errors
 * (wrong password, over quota, an ended session that keeps what was typed).
 *
 * OCELLUS_CONSOLE_SCREENSHOTS=<dir> also writes console-*.png of the main views there, at a
 * laptop's size and a phone's (scripts/console-screenshots.mjs).
 */

const CHROMIUM = process.env.OCELLUS_TEST_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.OCELLUS_CONSOLE_SCREENSHOTS;
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const MiB = 1024 * 1024;

function browserSkip(): string | undefined {
  if (fs.existsSync(CHROMIUM)) return undefined;
  const why = `${CHROMIUM} is not installed: \`bash scripts/install-test-deps.sh chromium\` (Debian package chromium) enables the console's browser tests (or set OCELLUS_TEST_CHROMIUM to a Chromium binary)`;
  if (process.env.CI) {
    test('a Chromium for the console tests', () => {
      assert.fail(`CI is set but ${why}`);
    });
  }
  return why;
}

const skip = browserSkip();

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page of the console, collecting the page's errors (a script error, a CSP refusal) for noPageErrors. */
interface ConsolePage {
  context: BrowserContext;
  page: Page;
  errors: string[];
}

/** A new browser context on the console at `base` (a server's URL, or a proxy's to it). */
async function openConsole(browser: Browser, base: string, hash = ''): Promise<ConsolePage> {
  const context = await browser.newContext({ viewport: LAPTOP, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of (400|401|403|404|409|413)/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  await page.goto(`${base}/console/${hash}`);
  return { context, page, errors };
}

function noPageErrors(cp: ConsolePage): void {
  assert.deepEqual(cp.errors, [], 'the page logged errors');
}

/**
 * Writes the page's screenshot at a laptop's size and a phone's (only with
 * OCELLUS_CONSOLE_SCREENSHOTS), scrolled to `show` when given.
 */
async function shoot(page: Page, name: string, show?: Locator): Promise<void> {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await show?.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, `console-${name}.png`) });
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(150);
  await show?.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(SHOTS, `console-${name}-phone.png`) });
  await page.setViewportSize(LAPTOP);
}

async function signInWithHeaders(page: Page, project: string, roles = 'member,reader', user = `user-${project}`): Promise<void> {
  const form = page.locator('form.signin-form').last();
  await form.getByLabel('Project', { exact: true }).fill(project);
  await form.getByLabel('User', { exact: true }).fill(user);
  await form.getByLabel('Roles', { exact: true }).fill(roles);
  await form.getByRole('button', { name: 'Sign in' }).click();
}

async function signedInAs(page: Page, project: string): Promise<void> {
  await page.locator('#who .project', { hasText: project }).waitFor();
  await page.getByRole('heading', { level: 1, name: 'Images' }).waitFor();
}

/** The status badge in the detail page's heading. */
function headingBadge(page: Page) {
  return page.locator('h1 .badge');
}

/** Fills the create form; `file`: a generated file of that many bytes. */
async function fillCreateForm(page: Page, name: string, file?: { name: string; size: number }): Promise<Buffer | undefined> {
  await page.goto(`${new URL(page.url()).origin}/console/#/images/new`);
  await page.getByRole('heading', { name: 'New image' }).waitFor();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Disk format').selectOption('raw');
  await page.getByLabel('Container format').selectOption('bare');
  if (!file) return undefined;
  const buffer = randomBytes(file.size);
  await page.getByLabel('Upload a file from this computer').check();
  await page.getByLabel('File', { exact: true }).setInputFiles({ name: file.name, mimeType: 'application/octet-stream', buffer });
  return buffer;
}

/** Records what the progress bar and its text show, as they change (read with progressLog). */
interface ProgressSample {
  value: number;
  max: number;
  text: string;
}

/** Records what the progress bar and its text show, as they change (read with progressLog). Page scripts are strings: this file has no DOM types. */
async function watchProgress(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    window.progressLog = [];
    const bar = document.querySelector('.data-panel progress');
    const text = document.querySelector('.data-panel .progress-text');
    new MutationObserver(() => window.progressLog.push({ value: bar.value, max: bar.max, text: text.textContent })).observe(bar.parentElement, {
      attributes: true, subtree: true, childList: true, characterData: true,
    });
  })()`);
}

async function progressLog(page: Page): Promise<ProgressSample[]> {
  return (await page.evaluate('window.progressLog')) as ProgressSample[];
}

/** GET /console/session from the page (with its cookie). */
async function pageSession(page: Page): Promise<{ signedIn: boolean; project?: { id: string } } & Record<string, unknown>> {
  return (await page.evaluate("fetch('/console/session').then((r) => r.json())")) as { signedIn: boolean };
}

/**
 * Paces the progress Chromium reports for the page's uploads as on a link of `bytesPerSecond`
 * (its network emulation: the bytes themselves may be sent faster, see slowUplink).
 */
async function throttleUploads(page: Page, bytesPerSecond: number): Promise<() => Promise<void>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bytesPerSecond });
  return async () => {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  };
}

/**
 * A loopback TCP proxy to `target` that passes on what the browser sends at `bytesPerSecond` (the
 * answers at full speed) and drops what it has not passed on when the browser hangs up: a slow
 * uplink, so that Cancel ends an upload before its bytes are all there (with throttleUploads
 * alone, they may all have arrived already).
 */
async function slowUplink(target: string, bytesPerSecond: number): Promise<{ url: string; close(): void }> {
  const port = Number(new URL(target).port);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    // What the browser sent, not yet passed on: dropped when it hangs up, as bytes on a slow link are.
    const queue: Buffer[] = [];
    let timer: NodeJS.Timeout | null = null;
    const end = () => {
      if (timer) clearTimeout(timer);
      queue.length = 0;
      client.destroy();
      upstream.destroy();
    };
    const pump = () => {
      timer = null;
      const chunk = queue.shift();
      if (!chunk) return;
      const piece = chunk.subarray(0, Math.max(1, Math.floor(bytesPerSecond / 20)));
      if (piece.length < chunk.length) queue.unshift(chunk.subarray(piece.length));
      upstream.write(piece);
      timer = setTimeout(pump, (piece.length / bytesPerSecond) * 1000);
    };
    client.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      if (!timer) pump();
    });
    client.on('end', end).on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe('the web console in Chromium: trusted headers (noauth)', { skip }, () => {
  let s: TestServer;
  let browser: Browser;
  const pages: ConsolePage[] = [];
  const uplinks: { close(): void }[] = [];
  const open = async (base = s.url) => {
    const cp = await openConsole(browser, base);
    pages.push(cp);
    return cp;
  };
  const A = 'console-proj-a';
  const B = 'console-proj-b';

  before(async () => {
    s = await startServer();
    browser = await launch();
  });
  after(async () => {
    for (const cp of pages) await cp.context.close().catch(() => undefined);
    for (const u of uplinks) u.close();
    await browser?.close();
    await s?.close();
  });

  test('the page is served with a strict CSP and signs in with a project, a user and roles', async () => {
    const res = await fetch(`${s.url}/console/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const cp = await open();
    const { page } = cp;
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.match(await page.locator('.signin-form .intro').innerText(), /trusted headers/);
    await shoot(page, 'signin');
    await signInWithHeaders(page, A, 'member,reader', 'alice');
    await signedInAs(page, A);
    assert.equal(await page.locator('#who .user').innerText(), 'alice');
    assert.match(await page.locator('#who .roles').innerText(), /member, reader/);
    // A reload keeps the session (the cookie); Sign out ends it.
    await page.reload();
    await signedInAs(page, A);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const session = await pageSession(page);
    assert.equal(session.signedIn, false);
    noPageErrors(cp);
  });

  test('create + upload: the progress bar reaches 100% and the image is active with the bytes sent', async () => {
    const cp = await open();
    const { page } = cp;
    await signInWithHeaders(page, A);
    await signedInAs(page, A);
    const data = (await fillCreateForm(page, 'uploaded-in-browser', { name: 'disk.raw', size: 4 * MiB }))!;
    await page.getByLabel('Visibility').selectOption('shared');
    await page.getByLabel('New tag').fill('browser');
    await page.getByRole('button', { name: 'Add tag' }).click();
    await watchProgress(page);
    // Chromium paces the upload's progress as on a 2 MiB/s uplink: the 4 MiB take about 2 s.
    const unthrottle = await throttleUploads(page, 2 * MiB);
    await page.getByRole('button', { name: 'Create image' }).click();
    // Midway: bytes, rate and time left.
    await page.locator('.progress-text', { hasText: /\/s · .* left/ }).waitFor();
    await shoot(page, 'upload', page.locator('.data-panel'));
    await page.waitForURL(/#\/images\/[0-9a-f-]{36}$/, { timeout: 60_000 });
    await unthrottle();
    await headingBadge(page).filter({ hasText: 'active' }).waitFor();

    const log = await progressLog(page);
    const last = log.at(-1)!;
    assert.ok(log.some((p) => p.value > 0 && p.value < p.max), `the bar moved through intermediate values: ${JSON.stringify(log.slice(0, 5))}`);
    assert.equal(last.value, last.max);
    assert.equal(last.max, data.length);
    assert.match(last.text, /4\.00 MiB of 4\.00 MiB \(100%\)/);

    const id = page.url().split('/').at(-1)!;
    const shown = await api(s.url, 'GET', `/v2/images/${id}`, { headers: member(A) });
    assert.equal(shown.body.status, 'active');
    assert.equal(shown.body.size, data.length);
    assert.deepEqual(shown.body.tags, ['browser']);
    assert.equal(shown.body.visibility, 'shared');
    const bytes = Buffer.from(await (await fetch(`${s.url}/v2/images/${id}/file`, { headers: member(A) })).arrayBuffer());
    assert.ok(bytes.equals(data), 'the stored bytes are the file');
    // The detail page shows the size in human units and offers the download.
    assert.match(await page.locator('.props').innerText(), /4\.00 MiB \(4,194,304 bytes\)/);
    assert.equal(await page.getByRole('link', { name: 'Download' }).getAttribute('href'), `/console/api/v2/images/${id}/file`);
    await shoot(page, 'detail');
    noPageErrors(cp);
  });

  test('Cancel stops an upload (the image stays queued); the queued image\'s page uploads the data', async () => {
    const uplink = await slowUplink(s.url, 256 * 1024);
    uplinks.push(uplink);
    const cp = await open(uplink.url);
    const { page } = cp;
    await signInWithHeaders(page, A);
    await signedInAs(page, A);
    await fillCreateForm(page, 'cancelled-upload', { name: 'slow.raw', size: 3 * MiB });
    await page.getByRole('button', { name: 'Create image' }).click();
    // The browser may have handed all the bytes to its socket already (100% sent): they are still on their way.
    await page.locator('.progress-box').waitFor();
    await page.getByRole('button', { name: 'Cancel upload' }).click();
    await page.locator('.data-panel .error[role=alert]', { hasText: 'Upload cancelled' }).waitFor();
    const id = (await page.locator('p.notice a').getAttribute('href'))!.split('/').at(-1)!;
    // The server sees the connection end a moment later: saving, then queued again.
    await waitForStatus(s.url, id, 'queued', member(A), 10_000);

    await page.goto(`${s.url}/console/#/images/${id}`);
    await headingBadge(page).filter({ hasText: 'queued' }).waitFor();
    const panel = page.locator('section', { has: page.getByRole('heading', { name: 'Upload data' }) });
    const data = randomBytes(MiB);
    await panel.getByLabel('File', { exact: true }).setInputFiles({ name: 'again.raw', mimeType: 'application/octet-stream', buffer: data });
    await panel.getByRole('button', { name: 'Start' }).click();
    await headingBadge(page).filter({ hasText: 'active' }).waitFor({ timeout: 60_000 });
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: member(A) })).body.size, data.length);
    noPageErrors(cp);
  });

  test('the list: filters and sorting in the hash, paging by marker, badges and human sizes', async () => {
    const ids: string[] = [];
    for (const n of ['page-1', 'page-2', 'page-3', 'page-4', 'page-5']) {
      const id = await createImage(s.url, member(A), { name: n, tags: ['paging'] });
      ids.push(id);
    }
    assert.equal((await upload(s.url, ids[0]!, Buffer.alloc(3 * 1024), member(A))).status, 204);
    const cp = await open();
    const { page } = cp;
    await signInWithHeaders(page, A);
    await signedInAs(page, A);
    await shoot(page, 'list');
    // Filters through the form land in the hash.
    await page.getByText('Filters and sorting').click();
    await page.getByLabel('Tag').fill('paging');
    await page.getByLabel('Sort by').selectOption('name');
    await page.getByLabel('Order').selectOption('asc');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/tag=paging/);
    assert.match(page.url(), /sort_key=name/);
    assert.match(page.url(), /sort_dir=asc/);
    const names = () => page.locator('table.images td.name a').allInnerTexts();
    await page.locator('table.images td.name a', { hasText: 'page-5' }).waitFor();
    assert.deepEqual(await names(), ['page-1', 'page-2', 'page-3', 'page-4', 'page-5']);
    assert.equal(await page.locator('table.images tr', { hasText: 'page-1' }).locator('td[data-label=Size]').innerText(), '3.00 KiB');
    assert.equal(await page.locator('table.images tr', { hasText: 'page-1' }).locator('.badge').innerText(), 'active');
    assert.equal(await page.locator('table.images tr', { hasText: 'page-2' }).locator('.badge').innerText(), 'queued');

    // Two per page: Next follows the API's marker, Previous goes back.
    await page.goto(`${s.url}/console/#/images?tag=paging&sort_key=name&sort_dir=asc&limit=2`);
    await page.locator('table.images td.name a', { hasText: 'page-1' }).waitFor();
    assert.deepEqual(await names(), ['page-1', 'page-2']);
    const previous = page.getByRole('button', { name: '← Previous' });
    const next = page.getByRole('button', { name: 'Next →' });
    assert.equal(await previous.isDisabled(), true);
    await next.click();
    await page.locator('table.images td.name a', { hasText: 'page-3' }).waitFor();
    assert.deepEqual(await names(), ['page-3', 'page-4']);
    assert.match(page.url(), new RegExp(`marker=${ids[1]}`));
    await next.click();
    await page.locator('table.images td.name a', { hasText: 'page-5' }).waitFor();
    assert.deepEqual(await names(), ['page-5']);
    assert.equal(await next.isDisabled(), true);
    await previous.click();
    await page.locator('table.images td.name a', { hasText: 'page-3' }).waitFor();
    await previous.click();
    await page.locator('table.images td.name a', { hasText: 'page-1' }).waitFor();
    assert.equal(await previous.isDisabled(), true);

    // A filter the API refuses: its message, no blank page.
    await page.goto(`${s.url}/console/#/images?sort_key=nonsense`);
    await page.getByRole('alert').filter({ hasText: /sort/i }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Images' }).isVisible(), true);
    noPageErrors(cp);
  });

  test('edit: name, a custom property and a tag are sent as a JSON patch of what changed', async () => {
    const id = await createImage(s.url, member(A), { name: 'to-edit', tags: ['old'], os_distro: 'debian', keep_me: 'yes' });
    // A metadefs namespace for images: its properties are offered by name, with their titles and allowed values.
    const ns = await api(s.url, 'POST', '/v2/metadefs/namespaces', {
      headers: admin(),
      json: {
        namespace: 'OS::Console::Test',
        display_name: 'Console test',
        visibility: 'public',
        resource_type_associations: [{ name: 'OS::Glance::Image' }],
        properties: { hw_disk_bus: { title: 'Disk bus', type: 'string', enum: ['virtio', 'scsi', 'ide'] } },
      },
    });
    assert.equal(ns.status, 201, ns.text);
    const cp = await open();
    const { page } = cp;
    await signInWithHeaders(page, A);
    await signedInAs(page, A);
    await page.goto(`${s.url}/console/#/images/${id}/edit`);
    await page.getByRole('heading', { name: 'Edit image' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('edited-in-browser');
    await page.getByRole('button', { name: 'Add property' }).click();
    await page.locator('datalist option[value=hw_disk_bus]').waitFor({ state: 'attached' });
    assert.equal(await page.locator('datalist option[value=hw_disk_bus]').getAttribute('label'), 'Disk bus');
    await page.getByLabel('Property name').last().fill('hw_disk_bus');
    await page.locator('tr.prop-row .hint', { hasText: 'Disk bus' }).waitFor();
    const valueList = await page.getByLabel('Property value').last().getAttribute('list');
    assert.deepEqual(await page.locator(`datalist[id="${valueList}"] option`).evaluateAll((os) => os.map((o) => o.getAttribute('value'))), ['virtio', 'scsi', 'ide']);
    await page.getByLabel('Property value').last().fill('virtio');
    // os_distro changes, keep_me stays.
    const keys = page.getByLabel('Property name');
    let row = -1;
    for (let i = 0; i < (await keys.count()); i++) if ((await keys.nth(i).inputValue()) === 'os_distro') row = i;
    assert.ok(row >= 0, 'a row for os_distro');
    await page.getByLabel('Property value').nth(row).fill('ubuntu');
    await page.getByRole('button', { name: 'Remove tag old' }).click();
    await page.getByLabel('New tag').fill('new-tag');
    await page.getByRole('button', { name: 'Add tag' }).click();
    await shoot(page, 'edit');
    const patches: unknown[] = [];
    page.on('request', (r) => {
      if (r.method() === 'PATCH') patches.push(JSON.parse(r.postData() ?? 'null'));
    });
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(new RegExp(`#/images/${id}$`));
    await page.getByRole('heading', { level: 1, name: /edited-in-browser/ }).waitFor();
    assert.deepEqual(patches, [
      [
        { op: 'replace', path: '/name', value: 'edited-in-browser' },
        { op: 'replace', path: '/os_distro', value: 'ubuntu' },
        { op: 'add', path: '/hw_disk_bus', value: 'virtio' },
        { op: 'replace', path: '/tags', value: ['new-tag'] },
      ],
    ]);
    const shown = (await api(s.url, 'GET', `/v2/images/${id}`, { headers: member(A) })).body;
    assert.equal(shown.name, 'edited-in-browser');
    assert.equal(shown.hw_disk_bus, 'virtio');
    assert.equal(shown.os_distro, 'ubuntu');
    assert.equal(shown.keep_me, 'yes');
    assert.deepEqual(shown.tags, ['new-tag']);
    assert.match(await page.locator('section', { hasText: 'Custom properties' }).innerText(), /hw_disk_bus\s+virtio/);
    // A refused change: the API's message next to the form.
    await page.goto(`${s.url}/console/#/images/${id}/edit`);
    await page.getByRole('button', { name: 'Add property' }).click();
    await page.getByLabel('Property name').last().fill('id');
    await page.getByLabel('Property value').last().fill('x');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('form .error[role=alert]').filter({ hasText: /\S/ }).waitFor();
    noPageErrors(cp);
  });

  test('share with another project, which accepts it; the owner sees the member accepted', async () => {
    const id = await createImage(s.url, member(A), { name: 'to-share', visibility: 'shared' });
    const owner = await open();
    await signInWithHeaders(owner.page, A);
    await signedInAs(owner.page, A);
    await owner.page.goto(`${s.url}/console/#/images/${id}`);
    await owner.page.getByText('Not shared with any project.').waitFor();
    await owner.page.getByLabel('Share with project').fill(B);
    await owner.page.getByRole('button', { name: 'Share' }).click();
    const row = owner.page.locator('section.members tr', { hasText: B });
    await row.locator('.badge', { hasText: 'pending' }).waitFor();

    const other = await open();
    await signInWithHeaders(other.page, B);
    await signedInAs(other.page, B);
    await other.page.goto(`${s.url}/console/#/images/${id}`);
    await other.page.getByRole('button', { name: 'Accept' }).waitFor();
    // Not its image: nothing to edit or delete.
    assert.equal(await other.page.getByRole('link', { name: 'Edit' }).count(), 0);
    assert.equal(await other.page.getByRole('button', { name: 'Delete' }).count(), 0);
    await other.page.getByRole('button', { name: 'Accept' }).click();
    await other.page.locator('section.members .badge', { hasText: 'accepted' }).waitFor();
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}/members/${B}`, { headers: member(B) })).body.status, 'accepted');
    // Accepted: in B's list.
    await other.page.goto(`${s.url}/console/#/images`);
    await other.page.locator('table.images td.name a', { hasText: 'to-share' }).waitFor();

    await owner.page.reload();
    await row.locator('.badge', { hasText: 'accepted' }).waitFor();
    // Remove the member again.
    await owner.page.getByRole('button', { name: `Remove ${B}` }).click();
    await owner.page.getByText('Not shared with any project.').waitFor();
    noPageErrors(owner);
    noPageErrors(other);
  });

  test('deactivate and reactivate as an admin; a member is not offered them', async () => {
    const id = await createImage(s.url, member(A), { name: 'to-deactivate' });
    assert.equal((await upload(s.url, id, Buffer.from('some bytes'), member(A))).status, 204);
    const m = await open();
    await signInWithHeaders(m.page, A);
    await signedInAs(m.page, A);
    await m.page.goto(`${s.url}/console/#/images/${id}`);
    await headingBadge(m.page).filter({ hasText: 'active' }).waitFor();
    assert.equal(await m.page.getByRole('button', { name: 'Deactivate' }).count(), 0);

    const a = await open();
    await signInWithHeaders(a.page, A, 'admin,member,reader', 'the-admin');
    await signedInAs(a.page, A);
    await a.page.goto(`${s.url}/console/#/images/${id}`);
    await a.page.getByRole('button', { name: 'Deactivate' }).click();
    await headingBadge(a.page).filter({ hasText: 'deactivated' }).waitFor();
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: admin() })).body.status, 'deactivated');
    await a.page.getByRole('button', { name: 'Reactivate' }).click();
    await headingBadge(a.page).filter({ hasText: 'active' }).waitFor();
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: admin() })).body.status, 'active');
    noPageErrors(a);
  });

  test('delete asks in a dialog first: Cancel keeps the image, Delete deletes it', async () => {
    const id = await createImage(s.url, member(A), { name: 'to-delete' });
    const cp = await open();
    const { page } = cp;
    await signInWithHeaders(page, A);
    await signedInAs(page, A);
    await page.goto(`${s.url}/console/#/images/${id}`);
    await page.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this image?' });
    await dialog.waitFor();
    // The safe choice has the focus.
    assert.equal(await page.evaluate('document.activeElement && document.activeElement.textContent'), 'Cancel');
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: member(A) })).status, 200);
    await page.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Delete image' }).click();
    await page.waitForURL(/#\/images$/);
    assert.equal((await api(s.url, 'GET', `/v2/images/${id}`, { headers: member(A) })).status, 404);
    // A protected image: the API's refusal in words.
    const kept = await createImage(s.url, member(A), { name: 'protected-one', protected: true });
    await page.goto(`${s.url}/console/#/images/${kept}`);
    await page.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Delete image' }).click();
    await page.getByRole('alert').filter({ hasText: /protected/i }).waitFor();
    noPageErrors(cp);
  });

  test('an ended session opens the sign-in dialog over the form, keeps what was typed, and the form can be sent again', async () => {
    const id = await createImage(s.url, member(A), { name: 'before-expiry' });
    const cp = await open();
    const { page, context } = cp;
    await signInWithHeaders(page, A);
    await signedInAs(page, A);
    await page.goto(`${s.url}/console/#/images/${id}/edit`);
    await page.getByLabel('Name', { exact: true }).fill('typed-while-signed-out');
    await page.getByRole('button', { name: 'Add property' }).click();
    await page.getByLabel('Property name').last().fill('typed_key');
    await page.getByLabel('Property value').last().fill('typed value');
    // The cookie is replaced by one that does not open (as after a restart with another secret).
    const [cookie] = await context.cookies();
    assert.ok(cookie, 'the session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    await context.addCookies([{ ...cookie, value: 'not-a-sealed-session' }]);
    await page.getByRole('button', { name: 'Save' }).click();
    const dialog = page.getByRole('dialog', { name: 'Your session has ended' });
    await dialog.waitFor();
    await page.locator('form.image-form .error[role=alert]', { hasText: /sign in again/i }).waitFor();
    assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'typed-while-signed-out');
    assert.equal(await page.getByLabel('Property value').last().inputValue(), 'typed value');
    // Prefilled with who was signed in.
    assert.equal(await dialog.getByLabel('Project', { exact: true }).inputValue(), A);
    await dialog.getByRole('button', { name: 'Sign in' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'typed-while-signed-out');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.waitForURL(new RegExp(`#/images/${id}$`));
    const shown = (await api(s.url, 'GET', `/v2/images/${id}`, { headers: member(A) })).body;
    assert.equal(shown.name, 'typed-while-signed-out');
    assert.equal(shown.typed_key, 'typed value');

    // No cookie at all: the same dialog on the next call; a reload shows the sign-in page.
    await context.clearCookies();
    await page.goto(`${s.url}/console/#/images`);
    await dialog.waitFor();
    await page.reload();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    noPageErrors(cp);
  });
});

describe('the web console in Chromium: imports (web-download, glance-direct)', { skip }, () => {
  let s: TestServer;
  let source: Source;
  let browser: Browser;
  let cp: ConsolePage;
  const P = 'console-importer';

  before(async () => {
    source = await new Source().start('127.0.0.2');
    s = await startServer([
      { section: 'import_filtering_opts', name: 'allowed_networks', value: '127.0.0.2/32' },
      { section: 'import_filtering_opts', name: 'allowed_ports', value: '' },
    ]);
    browser = await launch();
    cp = await openConsole(browser, s.url);
    await signInWithHeaders(cp.page, P);
    await signedInAs(cp.page, P);
  });
  after(async () => {
    await cp?.context.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
    source?.close();
  });

  test('web-download: the task is shown while the server fetches, then the image is active with those bytes', async () => {
    const { page } = cp;
    const data = randomBytes(MiB + 17);
    source.shut();
    const uri = source.put(data, 'gated');
    await fillCreateForm(page, 'from-a-url');
    await page.getByLabel('Import from a URL (web-download)').check();
    await page.getByLabel('URL', { exact: true }).fill(uri);
    await page.getByRole('button', { name: 'Create image' }).click();
    // The server is waiting on the source: the task shows processing (or pending), the image importing.
    await page.locator('.status-box .task .badge', { hasText: /processing|pending/ }).waitFor();
    await page.locator('.status-box .badge', { hasText: 'importing' }).waitFor();
    source.open();
    await page.waitForURL(/#\/images\/[0-9a-f-]{36}$/, { timeout: 60_000 });
    await headingBadge(page).filter({ hasText: 'active' }).waitFor();
    const id = page.url().split('/').at(-1)!;
    const shown = (await api(s.url, 'GET', `/v2/images/${id}`, { headers: member(P) })).body;
    assert.equal(shown.size, data.length);
    // The detail page lists the import task, succeeded.
    const tasks = page.locator('section', { has: page.getByRole('heading', { name: 'Import tasks' }) });
    await tasks.locator('tr', { hasText: 'api_image_import' }).locator('.badge', { hasText: 'success' }).waitFor();
    noPageErrors(cp);
  });

  test('the page of an image follows an import that runs (importing, then active) without a reload', async () => {
    const { page } = cp;
    source.shut();
    const uri = source.put(randomBytes(200_000), 'gated');
    const id = await createImage(s.url, member(P), { name: 'watched' });
    const started = await api(s.url, 'POST', `/v2/images/${id}/import`, { headers: member(P), json: { method: { name: 'web-download', uri } } });
    assert.equal(started.status, 202, started.text);
    await page.goto(`${s.url}/console/#/images/${id}`);
    await headingBadge(page).filter({ hasText: 'importing' }).waitFor();
    source.open();
    await headingBadge(page).filter({ hasText: 'active' }).waitFor({ timeout: 30_000 });
    noPageErrors(cp);
  });

  test('glance-direct: the file is staged with progress, then imported', async () => {
    const { page } = cp;
    const data = (await fillCreateForm(page, 'staged', { name: 'staged.raw', size: 2 * MiB }))!;
    await page.getByLabel('Stage a file, then import it (glance-direct)').check();
    await watchProgress(page);
    await page.getByRole('button', { name: 'Create image' }).click();
    await page.waitForURL(/#\/images\/[0-9a-f-]{36}$/, { timeout: 60_000 });
    await headingBadge(page).filter({ hasText: 'active' }).waitFor();
    const last = (await progressLog(page)).at(-1)!;
    assert.equal(last.value, data.length);
    const id = page.url().split('/').at(-1)!;
    const bytes = Buffer.from(await (await fetch(`${s.url}/v2/images/${id}/file`, { headers: member(P) })).arrayBuffer());
    assert.ok(bytes.equals(data));
    noPageErrors(cp);
  });

  test('a URL the server refuses: the API\'s message next to the data', async () => {
    const { page } = cp;
    await fillCreateForm(page, 'refused-url');
    await page.getByLabel('Import from a URL (web-download)').check();
    await page.getByLabel('URL', { exact: true }).fill('http://127.0.0.9:8080/not-allowed');
    await page.getByRole('button', { name: 'Create image' }).click();
    const alert = page.locator('.data-panel .error[role=alert]');
    await alert.filter({ hasText: /does not pass filtering/ }).waitFor({ timeout: 60_000 });
    noPageErrors(cp);
  });
});

describe('the web console in Chromium: several stores', { skip }, () => {
  let s: TestServer;
  let browser: Browser;
  let cp: ConsolePage;

  before(async () => {
    s = await startServer([
      { section: 'DEFAULT', name: 'enabled_backends', value: 'fast:file, cheap:file, web:http' },
      { section: 'glance_store', name: 'default_backend', value: 'fast' },
    ]);
    browser = await launch();
  });
  after(async () => {
    await cp?.context.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
  });

  test('the stores that take data are offered, the default first chosen; the upload goes to the one chosen', async () => {
    cp = await openConsole(browser, s.url);
    const { page } = cp;
    await signInWithHeaders(page, 'store-chooser');
    await signedInAs(page, 'store-chooser');
    const data = (await fillCreateForm(page, 'in-the-cheap-store', { name: 'c.raw', size: 64 * 1024 }))!;
    const store = page.getByLabel('Store');
    await store.waitFor();
    assert.deepEqual(await store.locator('option').evaluateAll((os) => os.map((o) => o.getAttribute('value'))), ['fast', 'cheap']);
    assert.equal(await store.inputValue(), 'fast');
    await store.selectOption('cheap');
    await page.getByRole('button', { name: 'Create image' }).click();
    await page.waitForURL(/#\/images\/[0-9a-f-]{36}$/);
    await headingBadge(page).filter({ hasText: 'active' }).waitFor();
    const id = page.url().split('/').at(-1)!;
    const shown = (await api(s.url, 'GET', `/v2/images/${id}`, { headers: member('store-chooser') })).body;
    assert.equal(shown.stores, 'cheap');
    assert.equal(shown.size, data.length);
    await page.locator('section', { has: page.getByRole('heading', { name: 'Stores and locations' }) }).getByText('cheap').first().waitFor();
    noPageErrors(cp);
  });
});

describe('the web console in Chromium: a project over its storage quota', { skip }, () => {
  let s: TestServer;
  let browser: Browser;
  let cp: ConsolePage;

  before(async () => {
    s = await startServer([{ section: 'DEFAULT', name: 'user_storage_quota', value: '1MB' }]);
    browser = await launch();
  });
  after(async () => {
    await cp?.context.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
  });

  test('the upload shows the API\'s 413 message next to the data, and the image stays queued', async () => {
    cp = await openConsole(browser, s.url);
    const { page } = cp;
    await signInWithHeaders(page, 'small-project');
    await signedInAs(page, 'small-project');
    await fillCreateForm(page, 'too-big', { name: 'big.raw', size: 3 * MiB });
    await page.getByRole('button', { name: 'Create image' }).click();
    const alert = page.locator('.data-panel .error[role=alert]');
    await alert.filter({ hasText: /quota/ }).waitFor({ timeout: 60_000 });
    assert.match(await alert.innerText(), /storage quota/);
    const link = page.locator('p.notice a');
    const id = (await link.getAttribute('href'))!.split('/').at(-1)!;
    await waitForStatus(s.url, id, 'queued', member('small-project'), 10_000);
    noPageErrors(cp);
  });
});

describe('the web console in Chromium: the admin token (default flavor)', { skip }, () => {
  let s: TestServer;
  let browser: Browser;
  let cp: ConsolePage;

  before(async () => {
    s = await startServer([{ section: 'paste_deploy', name: 'flavor', value: '' }]);
    browser = await launch();
  });
  after(async () => {
    await cp?.context.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
  });

  test('a wrong token is refused in words; the admin token signs in as an admin', async () => {
    cp = await openConsole(browser, s.url);
    const { page } = cp;
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const token = page.getByLabel('Token');
    assert.equal(await page.evaluate('document.activeElement && document.activeElement.name'), 'token', 'the field has the focus');
    await token.fill('not-the-token-0123456789abcdef0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('.signin-form .error[role=alert]', { hasText: /token/i }).waitFor();
    const adminToken = fs.readFileSync(path.join(s.dataDir, 'admin-token'), 'utf8').trim();
    // With the keyboard alone: the refused token is selected, typing replaces it, Enter sends.
    assert.equal(await page.evaluate('document.activeElement && document.activeElement.name'), 'token');
    await page.keyboard.type(adminToken);
    await page.keyboard.press('Enter');
    await signedInAs(page, 'admin');
    assert.match(await page.locator('#who .roles').innerText(), /admin/);
    // The token never reaches the page.
    const session = JSON.stringify(await pageSession(page));
    assert.ok(!session.includes(adminToken));
    assert.ok(!String(await page.evaluate('document.cookie')).includes('ocellus'), 'the session cookie is HttpOnly');
    noPageErrors(cp);
  });
});

describe('the web console in Chromium: Keystone', { skip: skip ?? keystoneSkip() }, () => {
  let s: TestServer;
  let browser: Browser;
  let cp: ConsolePage;
  let projectName: string;
  let projectId: string;
  let user: TestUser;

  before(async () => {
    projectName = `console-${randomBytes(5).toString('hex')}`;
    projectId = await createProject(projectName);
    user = await createUser({ password: 'console-secret-pw', projectId, roles: ['member', 'reader'] });
    s = await startServer(keystoneFlavorOverrides());
    browser = await launch();
  });
  after(async () => {
    await cp?.context.close().catch(() => undefined);
    await browser?.close();
    await s?.close();
    if (user) await deleteUser(user.id);
    if (projectId) await deleteProject(projectId);
  });

  test('a wrong password is refused next to the form; the right one signs in to the project', async () => {
    cp = await openConsole(browser, s.url);
    const { page } = cp;
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    const form = page.locator('form.signin-form');
    await shoot(page, 'signin-keystone');
    assert.equal(await form.getByLabel('User domain').inputValue(), 'Default');
    assert.equal(await form.getByLabel('Project domain').inputValue(), 'Default');
    await form.getByLabel('User name').fill(user.name);
    await form.getByLabel('Password').fill('wrong-password');
    await form.getByLabel('Project', { exact: true }).fill(projectName);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await form.locator('.error[role=alert]', { hasText: /password/ }).waitFor();
    await form.getByLabel('Password').fill(user.password);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await signedInAs(page, projectName);
    assert.equal(await page.locator('#who .user').innerText(), user.name);
    // The Keystone token stays on the server.
    const session = await pageSession(page);
    assert.equal(session.project?.id, projectId);
    assert.ok(!JSON.stringify(session).match(/gAAAA/), 'no Fernet token in what the page sees');
    // And it works: create an image through the console's API.
    await fillCreateForm(page, 'by-keystone-user');
    await page.getByLabel('No data now (the image stays queued)').check();
    await page.getByRole('button', { name: 'Create image' }).click();
    await page.waitForURL(/#\/images\/[0-9a-f-]{36}$/);
    await headingBadge(page).filter({ hasText: 'queued' }).waitFor();
    assert.match(await page.locator('.props').innerText(), new RegExp(projectId));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    noPageErrors(cp);
  });
});
