/**
 * The key manager for deployments without Barbican (`[key_manager] backend = local`): a directory
 * of certificates, one file per certificate named `<certificate uuid>.pem` or `<uuid>.der`. The
 * operator puts the certificates there; every caller may use every certificate in it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { CERTIFICATE_ID, CertificateNotFound, KeyManagerUnavailable, type KeyManager, type StoredCertificate } from '../domain/key-manager.js';

export class LocalCertificateDir implements KeyManager {
  constructor(private readonly dir: string) {}

  async certificate(uuid: string): Promise<StoredCertificate> {
    if (!CERTIFICATE_ID.test(uuid)) throw new CertificateNotFound(uuid);
    for (const ext of ['.pem', '.der']) {
      try {
        return { bytes: await fs.readFile(path.join(this.dir, uuid + ext)), isCertificate: true };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        throw new KeyManagerUnavailable(uuid, `the certificate directory cannot be read (${code ?? (err as Error).message})`);
      }
    }
    throw new CertificateNotFound(uuid);
  }
}
