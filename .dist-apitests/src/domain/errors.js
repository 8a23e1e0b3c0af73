/**
 * Typed domain errors. Each carries the HTTP status Glance answers with, so the API layer maps
 * them to responses in one place (api/error-handler.ts) and no domain code knows about HTTP.
 */
export class DomainError extends Error {
    /** Extra response headers (e.g. `Accept-Patch` for 415 on PATCH). */
    headers = {};
    constructor(message) {
        super(message);
        this.name = new.target.name;
    }
}
export class BadRequest extends DomainError {
    status = 400;
}
export class Unauthorized extends DomainError {
    status = 401;
}
export class Forbidden extends DomainError {
    status = 403;
}
export class NotFound extends DomainError {
    status = 404;
}
export class Conflict extends DomainError {
    status = 409;
}
/** The image was deleted while its data was being uploaded. */
export class Gone extends DomainError {
    status = 410;
}
export class TooLarge extends DomainError {
    status = 413;
}
export class UnsupportedMediaType extends DomainError {
    status = 415;
}
export class RangeNotSatisfiable extends DomainError {
    status = 416;
}
export class ServiceUnavailable extends DomainError {
    status = 503;
}
//# sourceMappingURL=errors.js.map