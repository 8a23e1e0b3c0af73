import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/options.js';
import { createService } from '../../src/service.js';
export function tempDir(prefix = 'ocellus-test-') {
    return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
/**
 * Starts a real Ocellus (SQLite + filesystem store in a fresh temp dir) on a free loopback port.
 * `overrides` set config options as the command line would.
 */
export async function startServer(overrides = [], dataDir = tempDir()) {
    const config = loadConfig({ dataDir, overrides: [{ section: 'DEFAULT', name: 'log_level', value: 'silent' }, ...overrides], warn: () => undefined });
    const service = await createService(config);
    const address = await service.app.listen({ host: '127.0.0.1', port: 0 });
    return {
        url: address,
        dataDir,
        service,
        async close() {
            await service.close();
        },
    };
}
/** Identity headers of a project member (trusted-headers auth). */
export function member(project, user = `user-${project}`) {
    return { 'x-project-id': project, 'x-user-id': user, 'x-roles': 'member,reader' };
}
export function admin(project = 'admin-project') {
    return { 'x-project-id': project, 'x-user-id': 'admin-user', 'x-roles': 'admin,member,reader' };
}
/** A request with JSON in and (when it parses) JSON out; errors are requested as JSON. */
export async function api(base, method, pathname, opts = {}) {
    const headers = { accept: 'application/json', ...opts.headers };
    let body = opts.body;
    if (opts.json !== undefined) {
        body = JSON.stringify(opts.json);
        headers['content-type'] = opts.contentType ?? 'application/json';
    }
    else if (opts.contentType) {
        headers['content-type'] = opts.contentType;
    }
    const res = await fetch(base + pathname, { method, headers, body });
    const text = await res.text();
    let parsed = undefined;
    try {
        parsed = text === '' ? undefined : JSON.parse(text);
    }
    catch {
        parsed = undefined;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
}
/** Creates a raw/bare image and returns its id. */
export async function createImage(base, headers, fields = {}) {
    const r = await api(base, 'POST', '/v2/images', { headers, json: { disk_format: 'raw', container_format: 'bare', ...fields } });
    if (r.status !== 201)
        throw new Error(`create failed: ${r.status} ${r.text}`);
    return r.body.id;
}
export async function upload(base, id, data, headers = {}) {
    return api(base, 'PUT', `/v2/images/${id}/file`, { headers, body: data, contentType: 'application/octet-stream' });
}
//# sourceMappingURL=harness.js.map