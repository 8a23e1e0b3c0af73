/** Errors carry the driver's type, so a log line says which store failed. */
export class StoreError extends Error {
    driver;
    constructor(driver, message, options) {
        super(`${driver} store: ${message}`, options);
        this.driver = driver;
        this.name = new.target.name;
    }
}
export class BlobNotFound extends StoreError {
}
/** The store has no room left for the write. */
export class StoreFull extends StoreError {
}
/** The store refused the write (permissions, read-only). */
export class StoreWriteDenied extends StoreError {
}
//# sourceMappingURL=blob-store.js.map