/**
 * Signing keys and X.509 certificates made with the real `openssl` command, and image data signed
 * with it as a user of Glance's signed images does (`openssl dgst -sign`; RSA-PSS with the largest
 * salt), for the signature verification tests.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Signer {
  /** img_signature_key_type. */
  keyType: string;
  key: string;
  /** The certificate, PEM and DER. */
  certPem: string;
  certDer: Buffer;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** A key of `kind` and a self-signed certificate of it (or one issued by `ca`). */
export function makeSigner(dir: string, name: string, kind: 'rsa' | 'secp384r1' | 'secp521r1' | 'dsa', ca?: Signer): Signer {
  const key = path.join(dir, `${name}.key`);
  if (kind === 'rsa') openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', key], dir);
  else if (kind === 'dsa') {
    openssl(['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:2048', '-out', `${key}.params`], dir);
    openssl(['genpkey', '-paramfile', `${key}.params`, '-out', key], dir);
  } else openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${kind}`, '-out', key], dir);
  const cert = path.join(dir, `${name}.pem`);
  if (ca) {
    openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', `${cert}.csr`], dir);
    openssl(['x509', '-req', '-in', `${cert}.csr`, '-CA', path.join(dir, `${path.basename(ca.key, '.key')}.pem`), '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-out', cert], dir);
  } else {
    openssl(['req', '-x509', '-new', '-key', key, '-subj', `/CN=${name}`, '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-out', cert], dir);
  }
  const keyType = kind === 'rsa' ? 'RSA-PSS' : kind === 'dsa' ? 'DSA' : `ECC_${kind.toUpperCase()}`;
  const certDer = openssl(['x509', '-in', cert, '-outform', 'DER'], dir);
  return { keyType, key, certPem: fs.readFileSync(cert, 'utf8'), certDer };
}

/** img_signature of `data` (base64), made by `openssl dgst`. `hash`: sha224 … sha512. */
export function sign(dir: string, signer: Signer, data: Buffer, hash: string): string {
  const file = path.join(dir, `data-${process.hrtime.bigint()}`);
  fs.writeFileSync(file, data);
  const pss = signer.keyType === 'RSA-PSS' ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:max'] : [];
  const sig = openssl(['dgst', `-${hash}`, ...pss, '-sign', signer.key, file], dir);
  fs.rmSync(file);
  return sig.toString('base64');
}

/** The four properties of an image signed by `signer` over `data`. */
export function signatureProps(dir: string, signer: Signer, data: Buffer, hash: string, certUuid: string): Record<string, string> {
  return {
    img_signature: sign(dir, signer, data, hash),
    img_signature_hash_method: `SHA-${hash.slice(3)}`,
    img_signature_key_type: signer.keyType,
    img_signature_certificate_uuid: certUuid,
  };
}
