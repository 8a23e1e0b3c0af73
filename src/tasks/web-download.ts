/**
 * web-download: the image data is a GET of a URL the user gave (OSSN-0078 and OSSN-0065: such a
 * URL must not make the service fetch from itself, the cloud's metadata service or internal
 * networks). The URL and every redirect pass the import URI filter (Glance's
 * `[import_filtering_opts]` plus Ocellus's rules), and every connection the address filter in the
 * socket's `lookup`, so a name that resolves to an internal address — now or after a DNS change —
 * is refused at the connection.
 */
import type { Readable } from 'node:stream';
import { shownUrl } from '../store/shown-url.js';
import { basicAuthorization } from '../store/url-credentials.js';
import { openBoundedGet, type DownloadLimits, type HopPolicy } from './bounded-download.js';
import { ImportSourceError } from './import-sources.js';
import type { ImportUriFilter } from './import-uri-filter.js';

export type { DownloadLimits } from './bounded-download.js';

/** A scheme at the start: the Location is a URL of its own, judged as written. */
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/**
 * GET of a user-supplied URL: every hop (redirects included) passes the URI filter and the
 * address filter (loopback, private, link-local, reserved refused unless in allowedNetworks);
 * bounded time and size; the stream errors with ImportSourceError when a limit is hit.
 */
export function openWebDownload(uri: string, filter: ImportUriFilter, limits: DownloadLimits, signal?: AbortSignal): Promise<{ stream: Readable; size: number | null }> {
  const policy: HopPolicy = {
    approve(written, from) {
      let text = written;
      if (from !== null && !ABSOLUTE.test(written)) {
        // A relative Location (or //host/path) is judged as the URL it makes against the last one.
        try {
          text = new URL(written, from).href;
        } catch {
          throw new ImportSourceError(`${shownUrl(from)}: redirect to an invalid URL`, false);
        }
      }
      const why = filter.refusal(text);
      if (why !== null) throw new ImportSourceError(from === null ? `${shownUrl(text)}: ${why}` : `${shownUrl(from)} redirects to ${shownUrl(text)}: ${why}`, false);
      return filter.accept(text);
    },
    // Credentials written in a URL (user:password@) go to that URL's host only, as Basic auth.
    headers(url) {
      const authorization = basicAuthorization(url);
      return authorization ? { authorization } : {};
    },
    addresses: filter.addresses,
  };
  return openBoundedGet(uri, policy, limits, signal);
}
