/**
 * HTTP metrics: every answered request is counted and timed under its route's pattern
 * (`/v2/images/{image_id}`, never the raw URL with its ids), and GET /metrics serves the
 * Prometheus exposition on the API port, outside authentication as Prometheus exporters are.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** What the API needs of the metrics: record a request, produce the exposition. */
export interface HttpMetrics {
  request(route: string, method: string, status: number, seconds: number): void;
  scrape(): Promise<{ contentType: string; body: string }>;
}

export const METRICS_PATH = '/metrics';

/** Label of requests no route matched (404s, 405s): one series, whatever the URL. */
const UNMATCHED = 'unmatched';

/** The route's pattern in Glance's notation: `/v2/images/:image_id` → `/v2/images/{image_id}`. */
export function routePattern(request: FastifyRequest): string {
  const url = request.routeOptions.url;
  if (url === undefined || request.is404) return UNMATCHED;
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** Counts and times every response; with `serve`, answers GET /metrics on this server too. */
export function registerMetrics(app: FastifyInstance, metrics: HttpMetrics, serve: boolean): void {
  const counted = new WeakSet<FastifyReply>();
  const record = (request: FastifyRequest, reply: FastifyReply) => {
    if (counted.has(reply)) return;
    counted.add(reply);
    metrics.request(routePattern(request), request.method, reply.statusCode, reply.elapsedTime / 1000);
  };
  app.addHook('onResponse', (request, reply, done) => {
    record(request, reply);
    done();
  });
  // A response cut short (a download whose store or client went away partway) never finishes, and
  // Fastify calls onResponse only for those that did: such a one is counted when it closes.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.raw.once('close', () => record(request, reply));
    done(null, payload);
  });
  if (!serve) return;
  app.get(METRICS_PATH, { config: { public: true } }, async (_request, reply) => {
    const { contentType, body } = await metrics.scrape();
    return reply.header('content-type', contentType).send(body);
  });
}
