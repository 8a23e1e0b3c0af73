/**
 * Typed domain errors. Each carries the HTTP status Glance answers with, so the API layer maps
 * them to responses in one place (api/error-handler.ts) and no domain code knows about HTTP.
 */
export abstract class DomainError extends Error {
  abstract readonly status: number;
  /** Extra response headers (e.g. `Accept-Patch` for 415 on PATCH). */
  headers: Record<string, string> = {};
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequest extends DomainError { readonly status = 400; }
export class Unauthorized extends DomainError { readonly status = 401; }
export class Forbidden extends DomainError { readonly status = 403; }
export class NotFound extends DomainError { readonly status = 404; }
export class Conflict extends DomainError { readonly status = 409; }
/** The image was deleted while its data was being uploaded. */
export class Gone extends DomainError { readonly status = 410; }
export class TooLarge extends DomainError { readonly status = 413; }
export class UnsupportedMediaType extends DomainError { readonly status = 415; }
export class RangeNotSatisfiable extends DomainError { readonly status = 416; }
export class ServiceUnavailable extends DomainError { readonly status = 503; }

/** Glance's 404 for an image that does not exist or that the caller may not see. */
export function imageNotFound(id: string): NotFound {
  return new NotFound(`No image found with ID ${id}`);
}
