/**
 * The key manager port (Castellan's role in Glance): where the certificates that sign images are
 * kept, by id. The domain asks for one certificate by its uuid on behalf of a caller (whose
 * token Barbican checks); src/keys/ holds the implementations (Barbican, a local directory).
 */
import type { CatalogEntry } from '../auth/context.js';
import { BadRequest, ServiceUnavailable } from './errors.js';

/** A certificate id a key manager can hold: letters, digits, dashes, underscores (nothing odd reaches a path or a URL). */
export const CERTIFICATE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Who a certificate is fetched for: the caller's token and catalog (a RequestContext is one). */
export interface KeyManagerCaller {
  readonly authToken: string | null;
  readonly serviceCatalog: readonly CatalogEntry[] | null;
}

/** A certificate as the key manager holds it: its bytes (DER or PEM) and whether it says it is an X.509 certificate. */
export interface StoredCertificate {
  bytes: Buffer;
  /** False for a secret that is not a certificate (Barbican's secret_type other than `certificate`). */
  isCertificate: boolean;
}

export interface KeyManager {
  /**
   * The certificate `uuid`. Throws CertificateNotFound when the key manager has no such
   * certificate (or the caller may not read it), KeyManagerUnavailable when it cannot be asked
   * (down, slow beyond its timeout, or answering errors).
   */
  certificate(uuid: string, caller: KeyManagerCaller): Promise<StoredCertificate>;
}

/** No certificate with that id (Glance: 400, the verification cannot be done). */
export class CertificateNotFound extends BadRequest {
  constructor(uuid: string, detail?: string) {
    super(`Signature verification failed: Certificate not found with ID: ${uuid}${detail ? ` (${detail})` : ''}`);
  }
}

/** The key manager could not be asked: 503, never a silent pass. */
export class KeyManagerUnavailable extends ServiceUnavailable {
  constructor(uuid: string, why: string) {
    super(`The key manager could not be asked for certificate ${uuid}: ${why}. Try again later.`);
  }
}
