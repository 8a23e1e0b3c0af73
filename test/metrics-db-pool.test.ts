// The database metrics of the server databases: pool use (open, idle, waiting connections) read
// from the PostgreSQL and MariaDB pools at scrape time, and query latency from Kysely's timing.
// SQLite has no pool (metrics.test.ts checks the gauge is absent there).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createImage, member, startServer } from './support/harness.js';
import { runsOn } from './support/test-database.js';

runsOn('postgresql', 'mariadb');

function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('pool connections by state and query latency move with the requests', async () => {
  const server = await startServer([{ section: 'database', name: 'max_pool_size', value: '3' }]);
  try {
    const P1 = member('pool-project');
    await Promise.all([1, 2, 3, 4].map(() => createImage(server.url, P1)));
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const open = sample(text, 'ocellus_db_pool_connections', '{state="open"}')!;
    const idle = sample(text, 'ocellus_db_pool_connections', '{state="idle"}')!;
    assert.ok(open >= 1 && open <= 3, `open ${open}`);
    assert.ok(idle >= 0 && idle <= open, `idle ${idle} of ${open}`);
    assert.equal(sample(text, 'ocellus_db_pool_connections', '{state="waiting"}'), 0);
    assert.equal(sample(text, 'ocellus_db_pool_max_connections'), 3);
    assert.ok(sample(text, 'ocellus_db_query_duration_seconds_count', '{outcome="ok"}')! >= 4);
  } finally {
    await server.close();
  }
});
