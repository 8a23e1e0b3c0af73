import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

type Format = 'json' | 'html' | 'text';

/** WebOb's choice among Glance's error bodies, by the request's Accept header. */
function chooseFormat(accept: string | undefined): Format {
  if (!accept) return 'text';
  let best: { format: Format; q: number } = { format: 'text', q: 0 };
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    const format: Format | undefined =
      type === 'application/json' ? 'json' : type === 'text/html' || type === '*/*' || type === 'text/*' ? 'html' : type === 'text/plain' ? 'text' : undefined;
    if (format && q > best.q) best = { format, q };
  }
  return best.format;
}

/** WebOb's titles where they differ from Node's reason phrases. */
const WEBOB_TITLES: Record<number, string> = {
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  416: 'Request Range Not Satisfiable',
};

/** Sends an error the way Glance (WebOb) renders it: JSON, HTML or plain text by Accept. */
export function sendError(request: FastifyRequest, reply: FastifyReply, status: number, message: string, headers: Record<string, string> = {}): FastifyReply {
  const title = WEBOB_TITLES[status] ?? STATUS_CODES[status] ?? 'Error';
  const code = `${status} ${title}`;
  reply.code(status).headers(headers);
  switch (chooseFormat(request.headers.accept)) {
    case 'json':
      // WebOb puts its rendered body template in `message`, `<br /><br />` and newlines included.
      return reply.type('application/json').send(JSON.stringify({ message: `${message}<br /><br />\n\n\n`, code, title }));
    case 'html':
      return reply
        .type('text/html; charset=UTF-8')
        .send(`<html>\n <head>\n  <title>${code}</title>\n </head>\n <body>\n  <h1>${code}</h1>\n  ${escapeHtml(message)}<br /><br />\n\n\n\n </body>\n</html>`);
    default:
      return reply.type('text/plain; charset=UTF-8').send(`${code}\n\n${message}\n\n   `);
  }
}
