/**
 * An upload's body as the domain reads it: the request stream behind a stream of its own, so that
 * whatever the domain does with it on a failure (a store that refuses the write, a pipeline that
 * destroys its source) stops the reading without destroying the request — and with it the socket
 * the answer has to go out on. The route then answers (and closes the connection when the body was
 * read only partway).
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export function detachedBody(request: IncomingMessage): Readable {
  const onData = (chunk: Buffer) => {
    if (!body.push(chunk)) request.pause();
  };
  const onEnd = () => body.push(null);
  const onError = (err: Error) => body.destroy(err);
  // The client went away before the end: Node's own "aborted", as an error.
  const onClose = () => {
    if (!request.readableEnded) body.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  };
  const detach = () => {
    request.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
    request.pause();
  };
  const body = new Readable({
    read: () => {
      request.resume();
    },
    destroy: (err, done) => {
      detach();
      done(err);
    },
  });
  // Paused first, so that listening for data does not start the flow before the body is read.
  request.pause();
  request.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  return body;
}
