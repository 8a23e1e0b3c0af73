import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApiDeps } from '../src/api/app-deps.js';
import { buildServer } from '../src/api/server.js';
import { NO_FEATURES } from '../src/api/versions.js';
import { NotFound } from '../src/domain/errors.js';

/**
 * The access log: one line per request, written after the response; none at info for a
 * successful read. The API layer alone, on stub services, with the log captured.
 */

interface LogLine {
  level: number;
  msg: string;
  method?: string;
  url?: string;
  status?: number;
  durationMs?: number;
  requestId?: string;
}

async function serverLogging(level: string) {
  const lines: LogLine[] = [];
  const deps = {
    auth: { authenticate: async (_h: unknown, requestId: string) => ({ requestId, isAdmin: false }), challenge: {} },
    actions: { deactivate: async () => undefined },
    catalogue: {
      get: async (_ctx: unknown, id: string) => {
        throw new NotFound(`No image found with ID ${id}`);
      },
    },
    metadefs: {},
    limits: { apiLimitMax: 1000, limitParamDefault: 25, maxRequestIdLength: 64, maxJsonBodySize: 65536 },
    publicEndpoint: null,
    features: NO_FEATURES,
    healthcheck: async () => undefined,
  } as unknown as ApiDeps;
  const app = await buildServer(deps, { logger: { level, stream: { write: (s: string) => lines.push(JSON.parse(s) as LogLine) } } });
  return { app, lines };
}

const ID = '8c3a3c9e-2f7c-4a0e-9a53-7f6d3e1b2c4d';

describe('request logging', () => {
  test('at info: no line for successful GET/HEAD; one line (method, url, status, duration, request id) for writes and errors', async () => {
    const { app, lines } = await serverLogging('info');
    try {
      assert.equal((await app.inject({ method: 'GET', url: '/versions' })).statusCode, 200);
      assert.equal((await app.inject({ method: 'HEAD', url: '/healthcheck' })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 300);
      assert.equal(lines.length, 0, `successful reads are not logged at info: ${JSON.stringify(lines)}`);

      const write = await app.inject({ method: 'POST', url: `/v2.1/images/${ID}/actions/deactivate`, headers: { 'x-openstack-request-id': 'req-write-1' } });
      assert.equal(write.statusCode, 204);
      const missing = await app.inject({ method: 'GET', url: `/v2/images/${ID}` });
      assert.equal(missing.statusCode, 404);
      const wrongMethod = await app.inject({ method: 'HEAD', url: `/v2/images/${ID}` });
      assert.equal(wrongMethod.statusCode, 405);

      assert.equal(lines.length, 3, JSON.stringify(lines));
      const [w, m, h] = lines as [LogLine, LogLine, LogLine];
      assert.equal(w.level, 30);
      assert.equal(w.method, 'POST');
      assert.equal(w.url, `/v2.1/images/${ID}/actions/deactivate`, 'the URL as the client sent it');
      assert.equal(w.status, 204);
      assert.equal(typeof w.durationMs, 'number');
      assert.equal(w.requestId, 'req-write-1');
      assert.deepEqual([m.method, m.status, m.level], ['GET', 404, 30]);
      assert.equal(m.requestId, missing.headers['x-openstack-request-id']);
      assert.deepEqual([h.method, h.status], ['HEAD', 405]);
    } finally {
      await app.close();
    }
  });

  test('at debug: successful reads get their one line too, at debug', async () => {
    const { app, lines } = await serverLogging('debug');
    try {
      const r = await app.inject({ method: 'GET', url: '/versions' });
      assert.equal(r.statusCode, 200);
      assert.equal(lines.length, 1, JSON.stringify(lines));
      assert.deepEqual([lines[0]!.level, lines[0]!.method, lines[0]!.url, lines[0]!.status], [20, 'GET', '/versions', 200]);
      assert.equal(lines[0]!.requestId, r.headers['x-openstack-request-id']);
    } finally {
      await app.close();
    }
  });

  test('at warn: nothing per request', async () => {
    const { app, lines } = await serverLogging('warn');
    try {
      await app.inject({ method: 'POST', url: `/v2/images/${ID}/actions/deactivate` });
      await app.inject({ method: 'GET', url: `/v2/images/${ID}` });
      assert.deepEqual(lines, []);
    } finally {
      await app.close();
    }
  });
});
