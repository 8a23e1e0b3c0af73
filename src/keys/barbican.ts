/**
 * The Barbican key manager, as Castellan's BarbicanKeyManager reads a certificate for Glance: with
 * the caller's own token, GET {endpoint}/v1/secrets/{uuid} (the secret's metadata: its type and
 * content types), then GET …/payload with the secret's default content type as Accept. The
 * endpoint is `[barbican] barbican_endpoint`, else the caller's service catalog entry of type
 * key-manager. Every call has a bounded wait: a Barbican that does not answer is a 503, never a
 * hang and never a pass.
 */
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import type { CatalogEntry } from '../auth/context.js';
import { CERTIFICATE_ID, CertificateNotFound, KeyManagerUnavailable, type KeyManager, type KeyManagerCaller, type StoredCertificate } from '../domain/key-manager.js';

export interface BarbicanSettings {
  /** [barbican] barbican_endpoint: null = from the caller's catalog. */
  endpoint: string | null;
  /** [barbican] barbican_api_version. */
  apiVersion: string;
  /** [barbican] barbican_endpoint_type: the catalog interface used. */
  endpointType: string;
  /** [barbican] barbican_region_name: null = any region. */
  region: string | null;
  /** [barbican] verify_ssl and verify_ssl_path (a CA bundle). */
  verifySsl: boolean;
  caFile: string | null;
  /** [barbican] timeout, in ms: the whole of one request (connect, answer, body). */
  timeoutMs: number;
}

/** A secret's payload is small: more than this is not a certificate. */
const MAX_BODY = 1 << 20;

interface Answer {
  status: number;
  body: Buffer;
}

export class BarbicanKeyManager implements KeyManager {
  private readonly ca: Buffer | undefined;

  constructor(private readonly settings: BarbicanSettings) {
    this.ca = settings.caFile ? fs.readFileSync(settings.caFile) : undefined;
  }

  async certificate(uuid: string, caller: KeyManagerCaller): Promise<StoredCertificate> {
    // Not a secret id Barbican could have: unknown, without asking (and nothing odd goes into the URL).
    if (!CERTIFICATE_ID.test(uuid)) throw new CertificateNotFound(uuid);
    if (!caller.authToken) throw new KeyManagerUnavailable(uuid, 'the request carries no Keystone token to ask Barbican with');
    const base = `${this.endpoint(uuid, caller.serviceCatalog).replace(/\/+$/, '')}/${this.settings.apiVersion}/secrets/${uuid}`;
    const meta = await this.get(uuid, base, caller.authToken, 'application/json');
    let secret: { secret_type?: unknown; content_types?: { default?: unknown } };
    try {
      secret = JSON.parse(meta.body.toString('utf8')) as typeof secret;
    } catch {
      throw new KeyManagerUnavailable(uuid, 'Barbican answered with something that is not JSON');
    }
    const contentType = typeof secret.content_types?.default === 'string' ? secret.content_types.default : 'application/octet-stream';
    const payload = await this.get(uuid, `${base}/payload`, caller.authToken, contentType);
    return { bytes: payload.body, isCertificate: secret.secret_type === 'certificate' };
  }

  /** The Barbican endpoint: configured, or the caller's catalog entry of type key-manager (interface and region as configured). */
  private endpoint(uuid: string, catalog: readonly CatalogEntry[] | null): string {
    if (this.settings.endpoint) return this.settings.endpoint;
    const { endpointType, region } = this.settings;
    for (const entry of catalog ?? []) {
      if (entry.type !== 'key-manager') continue;
      const ep = entry.endpoints.find((e) => e.interface === endpointType && (region === null || e.region_id === region || e.region === region));
      if (ep) return ep.url;
    }
    throw new KeyManagerUnavailable(uuid, `no key-manager endpoint (${endpointType}${region ? `, region ${region}` : ''}) in the service catalog and no [barbican] barbican_endpoint`);
  }

  /** One GET; 404 (and 403: the caller may not read it) is an unknown certificate, anything else not 200 a key manager that cannot help. */
  private async get(uuid: string, url: string, token: string, accept: string): Promise<Answer> {
    const answer = await this.request(uuid, url, token, accept);
    if (answer.status === 404 || answer.status === 403) throw new CertificateNotFound(uuid, `Barbican answered ${answer.status}`);
    if (answer.status === 401) throw new KeyManagerUnavailable(uuid, 'Barbican refused the token (401)');
    if (answer.status !== 200) throw new KeyManagerUnavailable(uuid, `Barbican answered ${answer.status}`);
    return answer;
  }

  private request(uuid: string, url: string, token: string, accept: string): Promise<Answer> {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const options: https.RequestOptions = {
      method: 'GET',
      headers: { 'x-auth-token': token, accept, 'user-agent': 'ocellus' },
      ...(target.protocol === 'https:' ? { rejectUnauthorized: this.settings.verifySsl, ca: this.ca } : {}),
    };
    const timeoutMs = this.settings.timeoutMs;
    return new Promise<Answer>((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        fn();
      };
      const req = client.request(target, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new KeyManagerUnavailable(uuid, `Barbican's answer is larger than ${MAX_BODY} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => done(() => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) })));
        res.on('error', (err) => done(() => reject(unavailable(err))));
      });
      // One deadline for the whole exchange: a Barbican that accepts and then stalls is as down as one that refuses.
      const timer = setTimeout(() => req.destroy(new KeyManagerUnavailable(uuid, `Barbican did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
      const unavailable = (err: Error) =>
        err instanceof KeyManagerUnavailable ? err : new KeyManagerUnavailable(uuid, `Barbican at ${target.host} cannot be reached (${(err as NodeJS.ErrnoException).code ?? err.message})`);
      req.on('error', (err) => done(() => reject(unavailable(err))));
      req.end();
    });
  }
}
