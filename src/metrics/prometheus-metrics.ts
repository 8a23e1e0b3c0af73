/**
 * The service's Prometheus metrics (prom-client): one registry per service instance, so several
 * services in one process (the tests) never share counters. It implements the domain's metrics
 * port, times HTTP requests and database queries, and reads at scrape time what the database and
 * the cache already know (tasks by status, outbox depth, pool use, cache size).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DomainMetrics, InFlightKind, StoreOperation } from '../domain/metrics-port.js';

/** What is read when Prometheus scrapes; each source may be absent (no publisher, no cache, SQLite's pool). */
export interface ScrapeSources {
  taskCounts(): Promise<Record<string, number>>;
  outboxDepth(): Promise<number>;
  poolUse(): { open: number; idle: number; waiting: number } | null;
  poolMax: number;
  publisher(): { sent: number; dropped: number; failures: number } | null;
  cacheSize(): Promise<{ entries: number; bytes: number } | null>;
  log(msg: string, err?: unknown): void;
}

/** The statuses a task can be in: each is reported, 0 included, so a rate over them works from the first scrape. */
const TASK_STATUSES = ['pending', 'processing', 'success', 'failure'];

/** Seconds: from a cached metadata read (ms) to a long upload (minutes). */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const QUERY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

export class PrometheusMetrics implements DomainMetrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter<'route' | 'method' | 'status'>;
  private readonly httpDuration: Histogram<'route' | 'method'>;
  private readonly received: Counter<'store'>;
  private readonly sent: Counter<'store'>;
  private readonly running: Gauge<'kind'>;
  private readonly storeErrors: Counter<'driver' | 'operation'>;
  private readonly takeovers: Counter<'kind'>;
  private readonly cacheHits: Counter;
  private readonly cacheMisses: Counter;
  private readonly queryDuration: Histogram<'outcome'>;
  private sources: ScrapeSources | undefined;

  constructor() {
    const registers = [this.registry];
    this.httpRequests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by route pattern, method and status code.', labelNames: ['route', 'method', 'status'], registers });
    this.httpDuration = new Histogram({ name: 'http_request_duration_seconds', help: 'Time to answer HTTP requests (until the last byte was sent), by route pattern and method.', labelNames: ['route', 'method'], buckets: HTTP_BUCKETS, registers });
    this.received = new Counter({ name: 'ocellus_image_bytes_received_total', help: 'Image data bytes written to a store (uploads, imports, copies), by store.', labelNames: ['store'], registers });
    this.sent = new Counter({ name: 'ocellus_image_bytes_sent_total', help: 'Image data bytes of completed downloads, by store (or cache).', labelNames: ['store'], registers });
    this.running = new Gauge({ name: 'ocellus_operations_in_flight', help: 'Uploads, imports and downloads running in this process.', labelNames: ['kind'], registers });
    for (const kind of ['upload', 'import', 'download']) this.running.set({ kind }, 0);
    this.storeErrors = new Counter({ name: 'ocellus_store_errors_total', help: 'Store operations that failed, by driver (file, swift, s3, http, …) and operation (read, write, delete).', labelNames: ['driver', 'operation'], registers });
    this.takeovers = new Counter({ name: 'ocellus_lease_takeovers_total', help: "Leases this process took over after their owner's expired, by kind of work.", labelNames: ['kind'], registers });
    this.cacheHits = new Counter({ name: 'ocellus_image_cache_hits_total', help: 'Whole downloads served from the image cache.', registers });
    this.cacheMisses = new Counter({ name: 'ocellus_image_cache_misses_total', help: 'Whole downloads that could go through the image cache but found no entry.', registers });
    this.queryDuration = new Histogram({ name: 'ocellus_db_query_duration_seconds', help: 'Database query latency, by outcome (ok, error).', labelNames: ['outcome'], buckets: QUERY_BUCKETS, registers });

    const scrape = () => this.sources;
    const guarded = async (what: string, read: () => Promise<void>) => {
      try {
        await read();
      } catch (err) {
        scrape()?.log(`metrics: could not read ${what}`, err);
      }
    };
    // First: read before this scrape's own queries below wait for a connection.
    new Gauge({
      name: 'ocellus_db_pool_connections',
      help: 'Database pool connections by state: open, idle, waiting (callers waiting for one); absent for SQLite.',
      labelNames: ['state'],
      registers,
      collect() {
        const use = scrape()?.poolUse();
        if (!use) return;
        this.set({ state: 'open' }, use.open);
        this.set({ state: 'idle' }, use.idle);
        this.set({ state: 'waiting' }, use.waiting);
      },
    });
    new Gauge({
      name: 'ocellus_db_pool_max_connections',
      help: '[database] max_pool_size: the connections a pool may open.',
      registers,
      collect() {
        const s = scrape();
        if (s) this.set(s.poolMax);
      },
    });
    new Gauge({
      name: 'ocellus_tasks',
      help: 'Tasks (not deleted) by status, in the shared database.',
      labelNames: ['status'],
      registers,
      async collect() {
        const s = scrape();
        if (!s) return;
        await guarded('the tasks', async () => {
          const counts = await s.taskCounts();
          for (const status of new Set([...TASK_STATUSES, ...Object.keys(counts)])) this.set({ status }, counts[status] ?? 0);
        });
      },
    });
    new Gauge({
      name: 'ocellus_notification_outbox_depth',
      help: 'Notifications waiting in the outbox to be delivered.',
      registers,
      async collect() {
        const s = scrape();
        if (s) await guarded('the outbox', async () => this.set(await s.outboxDepth()));
      },
    });
    // The publisher keeps its own totals; these counters show them (reset, then the total: never decreasing within a process).
    const publisherCounter = (name: string, help: string, pick: (p: { sent: number; dropped: number; failures: number }) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          const p = scrape()?.publisher();
          if (!p) return;
          this.reset();
          this.inc(pick(p));
        },
      });
    publisherCounter('ocellus_notifications_sent_total', 'Notifications this process delivered.', (p) => p.sent);
    publisherCounter('ocellus_notifications_dropped_total', 'Notifications this process dropped undelivered (too old, or out of retries).', (p) => p.dropped);
    publisherCounter('ocellus_notification_delivery_failures_total', 'Delivery attempts of this process that failed (message bus unreachable, …).', (p) => p.failures);
    new Gauge({
      name: 'ocellus_image_cache_bytes',
      help: "Bytes of the complete entries in this node's image cache.",
      registers,
      async collect() {
        const s = scrape();
        if (s) await guarded('the image cache', async () => this.set((await s.cacheSize())?.bytes ?? 0));
      },
    });
    new Gauge({
      name: 'ocellus_image_cache_entries',
      help: "Complete entries in this node's image cache.",
      registers,
      async collect() {
        const s = scrape();
        if (s) await guarded('the image cache', async () => this.set((await s.cacheSize())?.entries ?? 0));
      },
    });
  }

  /** Where scrapes read the database, the publisher and the cache: set once they exist. */
  readFrom(sources: ScrapeSources): void {
    this.sources = sources;
  }

  /** One answered HTTP request: `route` is the route's pattern (never the raw URL with its ids). */
  request(route: string, method: string, status: number, seconds: number): void {
    this.httpRequests.inc({ route, method, status: String(status) });
    this.httpDuration.observe({ route, method }, seconds);
  }

  /** One database query's duration. */
  query(seconds: number, failed: boolean): void {
    this.queryDuration.observe({ outcome: failed ? 'error' : 'ok' }, seconds);
  }

  /** The exposition text and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  bytesReceived(store: string, bytes: number): void {
    this.received.inc({ store }, bytes);
  }

  bytesSent(store: string, bytes: number): void {
    this.sent.inc({ store }, bytes);
  }

  inFlight(kind: InFlightKind, delta: 1 | -1): void {
    this.running.inc({ kind }, delta);
  }

  storeError(driver: string, operation: StoreOperation): void {
    this.storeErrors.inc({ driver, operation });
  }

  leaseTakeover(kind: string, count: number): void {
    this.takeovers.inc({ kind }, count);
  }

  cacheLookup(hit: boolean): void {
    (hit ? this.cacheHits : this.cacheMisses).inc();
  }
}
