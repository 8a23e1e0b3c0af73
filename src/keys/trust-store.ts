/**
 * The trust store of `[image_signature] verify_certificate_chain` (beyond Glance, which leaves
 * certificate trust to Nova): CA certificates read once at start from `[image_signature]
 * trust_store`, a PEM file of one or more certificates or a directory of .pem/.crt/.der files.
 * A signing certificate is trusted when it is within its validity dates and is either in the
 * store or issued and signed by a CA certificate of the store that is itself within its dates.
 */
import fs from 'node:fs';
import path from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { CertificateTrust } from '../domain/image-signature.js';

export class TrustStore implements CertificateTrust {
  private constructor(private readonly anchors: readonly X509Certificate[]) {}

  /** Reads the store; throws (a configuration error) when it holds no certificate. */
  static load(where: string): TrustStore {
    const files = fs.statSync(where).isDirectory()
      ? fs.readdirSync(where).filter((f) => /\.(pem|crt|cer|der)$/i.test(f)).map((f) => path.join(where, f))
      : [where];
    const anchors: X509Certificate[] = [];
    for (const file of files) {
      const bytes = fs.readFileSync(file);
      const pems = bytes.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
      for (const one of pems ?? [bytes]) anchors.push(new X509Certificate(one));
    }
    if (anchors.length === 0) throw new Error(`trust_store ${where} holds no certificate`);
    return new TrustStore(anchors);
  }

  untrusted(cert: X509Certificate, now: Date): string | null {
    const dates = outsideDates(cert, now);
    if (dates) return dates;
    if (this.anchors.some((a) => a.fingerprint256 === cert.fingerprint256)) return null;
    const issuers = this.anchors.filter((a) => a.ca && cert.checkIssued(a) && cert.verify(a.publicKey));
    if (issuers.length === 0) return `it is not issued by a CA of the trust store (issuer: ${cert.issuer.replace(/\n/g, ', ')})`;
    if (issuers.some((a) => outsideDates(a, now) === null)) return null;
    return `its issuer's certificate is not valid now (${outsideDates(issuers[0]!, now)})`;
  }
}

function outsideDates(cert: X509Certificate, now: Date): string | null {
  if (now < new Date(cert.validFrom)) return `it is not valid before ${cert.validFrom}`;
  if (now > new Date(cert.validTo)) return `it expired on ${cert.validTo}`;
  return null;
}
