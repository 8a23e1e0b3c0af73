/**
 * Credentials written into an http(s) URL (user:password@), sent as python-requests sends them
 * (and so glance_store and Glance's web-download): a Basic Authorization header. One encoding for
 * the http store and web-download.
 */

/** The Authorization value for `url`'s userinfo; null when it has none. */
export function basicAuthorization(url: URL): string | null {
  if (!url.username && !url.password) return null;
  return `Basic ${Buffer.from(`${percentDecode(url.username)}:${percentDecode(url.password)}`).toString('base64')}`;
}

function percentDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a stray '%' is meant literally
  }
}
