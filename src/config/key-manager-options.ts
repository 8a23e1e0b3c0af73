/**
 * The options of image signature verification: the key manager that holds the signing
 * certificates (`[key_manager]`, Castellan's; `[barbican]`, Castellan's Barbican options) and
 * Ocellus's optional certificate trust check (`[image_signature]`). Spread into OPTIONS by options.ts.
 */
import type { OptionSpec } from './option-spec.js';

export const KEY_MANAGER_SECTIONS = {
  key_manager: {
    backend: {
      kind: 'string',
      default: 'barbican',
      choices: ['barbican', 'castellan.key_manager.barbican_key_manager.BarbicanKeyManager', 'local'],
      help: "Where the certificates of signed images (img_signature_certificate_uuid) are: barbican (Castellan's default; read with the caller's token) or local (certificate_dir).",
    },
    certificate_dir: { kind: 'string', default: null, help: 'Ocellus, backend = local: directory of certificates, one file `<certificate uuid>.pem` or `<certificate uuid>.der` each.' },
  },
  barbican: {
    barbican_endpoint: { kind: 'string', default: null, help: "Barbican's URL (without the version); unset = the caller's service catalog entry of type key-manager." },
    barbican_api_version: { kind: 'string', default: 'v1', help: 'Version of the Barbican API.' },
    barbican_endpoint_type: { kind: 'string', default: 'public', choices: ['public', 'internal', 'admin'], help: 'Interface of the catalog endpoint used.' },
    barbican_region_name: { kind: 'string', default: null, help: 'Region of the catalog endpoint used; unset = any.' },
    verify_ssl: { kind: 'bool', default: true, help: "Check Barbican's TLS certificate (https endpoints)." },
    verify_ssl_path: { kind: 'string', default: null, help: 'CA bundle to check Barbican\'s TLS certificate against; unset = the system\'s.' },
    timeout: { kind: 'int', default: 10, min: 1, help: 'Ocellus: seconds one request to Barbican may take in all; beyond, the upload or import is refused with 503.' },
  },
  image_signature: {
    verify_certificate_chain: {
      kind: 'bool',
      default: false,
      help: "Ocellus, beyond Glance (which leaves certificate trust to Nova): a signing certificate must be within its validity dates and be in, or issued by a CA of, trust_store; else the data is refused (400).",
    },
    trust_store: { kind: 'string', default: null, help: 'With verify_certificate_chain: a PEM file of CA certificates, or a directory of .pem/.crt/.der files.' },
  },
} as const satisfies Record<string, Record<string, OptionSpec>>;
