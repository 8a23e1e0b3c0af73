/** Builds image signature verification from the configuration: the key manager of `[key_manager] backend` and the optional trust store. */
import { ConfigError, type Config } from '../config/options.js';
import { ImageSignatures } from '../domain/image-signature.js';
import type { KeyManager } from '../domain/key-manager.js';
import { BarbicanKeyManager } from './barbican.js';
import { LocalCertificateDir } from './local-dir.js';
import { TrustStore } from './trust-store.js';

export function keyManager(config: Config): KeyManager {
  if (config.key_manager.backend === 'local') {
    if (!config.key_manager.certificate_dir) throw new ConfigError('[key_manager] backend = local needs [key_manager] certificate_dir');
    return new LocalCertificateDir(config.key_manager.certificate_dir);
  }
  const b = config.barbican;
  return new BarbicanKeyManager({
    endpoint: b.barbican_endpoint,
    apiVersion: b.barbican_api_version,
    endpointType: b.barbican_endpoint_type,
    region: b.barbican_region_name,
    verifySsl: b.verify_ssl,
    caFile: b.verify_ssl_path,
    timeoutMs: b.timeout * 1000,
  });
}

export function imageSignatures(config: Config): ImageSignatures {
  const s = config.image_signature;
  if (s.verify_certificate_chain && !s.trust_store) throw new ConfigError('[image_signature] verify_certificate_chain = true needs [image_signature] trust_store');
  let trust: TrustStore | null = null;
  if (s.verify_certificate_chain) {
    try {
      trust = TrustStore.load(s.trust_store!);
    } catch (err) {
      throw new ConfigError(`[image_signature] trust_store: ${(err as Error).message}`);
    }
  }
  return new ImageSignatures(keyManager(config), trust);
}
