/** The SDK's errors: an API answer that is not a success, with its status, message and request id. */

export class ImageApiError extends Error {
  constructor(
    /** The HTTP status the API answered. */
    readonly status: number,
    /** The API's message (Glance's WebOb body, without its line breaks). */
    message: string,
    readonly method: string,
    readonly url: string,
    /** The `x-openstack-request-id` of the call, for the operator's logs. */
    readonly requestId: string | null,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends ImageApiError {}
export class UnauthorizedError extends ImageApiError {}
export class ForbiddenError extends ImageApiError {}
export class NotFoundError extends ImageApiError {}
export class ConflictError extends ImageApiError {}
export class RequestEntityTooLargeError extends ImageApiError {}
export class ServiceUnavailableError extends ImageApiError {}

const BY_STATUS: Record<number, typeof ImageApiError> = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  413: RequestEntityTooLargeError,
  503: ServiceUnavailableError,
};

/** The message of an error body: Glance's JSON `message` (its `<br />`s dropped), or the text. */
export function errorMessage(text: string, status: number): string {
  let message = text;
  try {
    const body = JSON.parse(text) as { message?: unknown; error?: { message?: unknown } };
    const m = body.message ?? body.error?.message;
    if (typeof m === 'string') message = m;
  } catch {
    // Not JSON: the text itself.
  }
  message = message.replace(/<br \/>/g, ' ').replace(/\s+/g, ' ').trim();
  return message || `HTTP ${status}`;
}

/** The error for a failed answer, of the class for its status. */
export function apiError(status: number, text: string, method: string, url: string, requestId: string | null): ImageApiError {
  const Kind = BY_STATUS[status] ?? ImageApiError;
  return new Kind(status, errorMessage(text, status), method, url, requestId);
}

/** A configuration or authentication problem found before any Image API call. */
export class ConfigurationError extends Error {
  override name = 'ConfigurationError';
}

/**
 * An https connection refused over a certificate: the server's is not trusted (unknown CA,
 * self-signed, wrong host name, expired), or the server wanted a client certificate it did not
 * get or accept. Its message says which setting to change.
 */
export class CertificateError extends Error {
  override name = 'CertificateError';
  constructor(
    message: string,
    /** The URL of the call. */
    readonly url: string,
    /** The TLS error code (e.g. DEPTH_ZERO_SELF_SIGNED_CERT, ERR_TLS_CERT_ALTNAME_INVALID). */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
