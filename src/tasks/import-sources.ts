/**
 * What the places an import reads from (web-download, glance-download) fail with. The import
 * engine decides from `retryable` whether another attempt may succeed (a connection that broke,
 * a server answering 5xx, a stall) or not (a refused address, a 404, an image above the size
 * cap), and shows the message to the user in the task's message: it never holds credentials or
 * query strings (see shownUrl).
 */
export class ImportSourceError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ImportSourceError';
  }
}
