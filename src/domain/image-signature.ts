/**
 * Image signature verification (Glance's, via cursive): when an image carries img_signature,
 * img_signature_hash_method, img_signature_key_type and img_signature_certificate_uuid, its bytes
 * are checked against the signature while they are stored, and the image becomes active only if
 * it holds. This module reads and checks the four properties, fetches the certificate from the
 * key manager, checks it (X.509, key type, optionally its chain) and builds the SignatureJob that
 * the hash workers run beside md5 and the multihash (data-intake.ts refuses the write before its
 * commit when it fails). Everything here that can fail does so before a byte is stored.
 */
import { constants, getCurves, X509Certificate, type KeyObject } from 'node:crypto';
import type { SignatureJob } from '../hashing/hash-ring.js';
import { BadRequest } from './errors.js';
import type { KeyManager, KeyManagerCaller } from './key-manager.js';

export const SIGNATURE = 'img_signature';
export const HASH_METHOD = 'img_signature_hash_method';
export const KEY_TYPE = 'img_signature_key_type';
export const CERT_UUID = 'img_signature_certificate_uuid';
const ALL = [SIGNATURE, HASH_METHOD, KEY_TYPE, CERT_UUID] as const;

const HASH_METHODS: Readonly<Record<string, string>> = { 'SHA-224': 'sha224', 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' };
const HASH_BYTES: Readonly<Record<string, number>> = { sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

/** The key types cursive knows, each with the public keys it accepts; ECC curves only when this node's OpenSSL has them. */
interface KeyType {
  keyTypes: readonly string[];
  curve?: string;
}
const ECC_CURVES = ['sect571k1', 'sect409k1', 'sect571r1', 'sect409r1', 'secp521r1', 'secp384r1'];
export const KEY_TYPES: ReadonlyMap<string, KeyType> = new Map<string, KeyType>([
  ['RSA-PSS', { keyTypes: ['rsa', 'rsa-pss'] }],
  ['DSA', { keyTypes: ['dsa'] }],
  ...ECC_CURVES.filter((c) => getCurves().includes(c)).map((c): [string, KeyType] => [`ECC_${c.toUpperCase()}`, { keyTypes: ['ec'], curve: c }]),
]);

/** The four properties, read and checked (the certificate not fetched yet). */
export interface SignatureProperties {
  signature: Buffer;
  /** node:crypto digest name. */
  hash: string;
  keyType: string;
  certificateUuid: string;
}

/** Decides whether a certificate is trusted (`[image_signature] verify_certificate_chain`): the reason when it is not, else null. */
export interface CertificateTrust {
  untrusted(cert: X509Certificate, now: Date): string | null;
}

function failed(reason: string): BadRequest {
  return new BadRequest(`Signature verification failed: ${reason}`);
}

/**
 * The signature properties of an image: null when it has none of them, else all four checked
 * (400 when one is missing or malformed: Glance would skip the check when some are missing, and
 * a user who set some of them believes the image is verified).
 */
export function signatureProperties(properties: Readonly<Record<string, string>>): SignatureProperties | null {
  const present = ALL.filter((p) => properties[p] !== undefined);
  if (present.length === 0) return null;
  const missing = ALL.find((p) => properties[p] === undefined);
  if (missing) throw failed(`Required image properties for signature verification do not exist. Cannot verify signature. Missing property: ${missing}`);
  const encoded = properties[SIGNATURE]!.replace(/\s+/g, '');
  if (encoded === '' || encoded.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) {
    throw failed('The signature data was not properly encoded using base64');
  }
  const hash = HASH_METHODS[properties[HASH_METHOD]!];
  if (!hash) throw failed(`Invalid signature hash method: ${properties[HASH_METHOD]}`);
  const keyType = properties[KEY_TYPE]!;
  if (!KEY_TYPES.has(keyType)) throw failed(`Invalid signature key type: ${keyType}`);
  return { signature: Buffer.from(encoded, 'base64'), hash, keyType, certificateUuid: properties[CERT_UUID]! };
}

/** Reads a certificate as a key manager holds it: DER, or PEM (what Barbican's `openstack secret store` flow stores). */
export function parseCertificate(bytes: Buffer, uuid: string): X509Certificate {
  try {
    return new X509Certificate(bytes);
  } catch {
    throw failed(`Invalid certificate format: certificate ${uuid} is not an X.509 certificate`);
  }
}

/** The job the hash workers run: the certificate's key checked against the key type, PSS with MGF1 over the same hash and the largest salt (cursive's). */
export function signatureJob(props: SignatureProperties, cert: X509Certificate): SignatureJob {
  const key: KeyObject = cert.publicKey;
  const type = KEY_TYPES.get(props.keyType)!;
  const keyType = key.asymmetricKeyType ?? '';
  if (!type.keyTypes.includes(keyType) || (type.curve && key.asymmetricKeyDetails?.namedCurve !== type.curve)) {
    const what = key.asymmetricKeyDetails?.namedCurve ? `${keyType} ${key.asymmetricKeyDetails.namedCurve}` : keyType;
    throw failed(`Invalid public key type for signature key type: ${props.keyType} (the certificate holds a ${what} key)`);
  }
  if (props.keyType !== 'RSA-PSS') return { hash: props.hash, key, signature: props.signature };
  // EMSA-PSS: the encoded message is ceil((modBits - 1) / 8) bytes; the largest salt leaves room for the hash and two bytes.
  const emBytes = Math.ceil(((key.asymmetricKeyDetails?.modulusLength ?? 0) - 1) / 8);
  const saltLength = emBytes - HASH_BYTES[props.hash]! - 2;
  if (saltLength < 0) throw failed(`The RSA key of certificate ${props.certificateUuid} is too small for ${props.hash}`);
  return { hash: props.hash, key, signature: props.signature, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength };
}

/** Builds the signature check of an image from its properties and the key manager. */
export class ImageSignatures {
  constructor(
    private readonly keys: KeyManager,
    /** `[image_signature] verify_certificate_chain`: null = not checked (Glance leaves it to Nova). */
    private readonly trust: CertificateTrust | null = null,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The check for an image's data, or null when the image is not signed. Throws 400 for bad
   * properties, an unknown certificate, one that is not X.509, of another key type or (with
   * verify_certificate_chain) not trusted; 503 when the key manager cannot be asked.
   */
  async check(caller: KeyManagerCaller, properties: Readonly<Record<string, string>>): Promise<SignatureJob | null> {
    const props = signatureProperties(properties);
    if (!props) return null;
    return this.checkWith(props, await this.certificate(caller, props.certificateUuid));
  }

  /** The certificate's bytes as the key manager holds them, checked to be an X.509 certificate. */
  async certificate(caller: KeyManagerCaller, uuid: string): Promise<Buffer> {
    const stored = await this.keys.certificate(uuid, caller);
    if (!stored.isCertificate) throw failed(`Invalid certificate format: secret ${uuid} is not an X.509 certificate`);
    parseCertificate(stored.bytes, uuid);
    return stored.bytes;
  }

  /** The check built from a certificate fetched earlier (an import task records it when it starts). */
  checkWith(props: SignatureProperties, certificate: Buffer): SignatureJob {
    const cert = parseCertificate(certificate, props.certificateUuid);
    const job = signatureJob(props, cert);
    const why = this.trust?.untrusted(cert, new Date(this.now()));
    if (why) throw failed(`Certificate ${props.certificateUuid} is not trusted: ${why}`);
    return job;
  }
}

/** A signed image where no key manager is configured (ImageSignatures absent: tests that build the domain by hand). */
export function noKeyManager(): BadRequest {
  return failed('no key manager is configured to verify signed images.');
}

/** Glance's answer when the bytes do not match the signature; nothing of them is kept. */
export function signatureMismatch(id: string): BadRequest {
  return new BadRequest(`Signature verification failed for image ${id}: the data does not match img_signature; nothing was stored.`);
}
