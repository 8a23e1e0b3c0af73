/**
 * A location URL as messages and logs may show it: without user:password@ (Glance's s3 and
 * swift locations carried credentials there, http ones may) and without the query (it may hold a
 * signature). One helper for every store and for the domain's location errors.
 */
export function shownUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    const text = String(url).replace(/\/\/[^/@]*@/, '//');
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  }
}
