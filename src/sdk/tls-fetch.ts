/**
 * The fetch the Node client calls Keystone and the Image API with: Node's global fetch with an
 * undici Agent of the client's own as its dispatcher, which carries the TLS settings (a CA file
 * to trust instead of the system's, verification off, a client certificate and key) — the global
 * fetch takes no CA or certificate per call otherwise. A connection refused over a certificate is
 * rethrown as a CertificateError whose message names the setting to change, not as undici's
 * "fetch failed".
 */
import fs from 'node:fs';
import type { Socket } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { CertificateError, ConfigurationError } from './errors.js';

/** TLS settings, as clouds.yaml and the OS_* variables give them (files are PEM). */
export interface TlsOptions {
  /** The CAs to trust (instead of the system's). */
  cacert?: string;
  /** Accept any server certificate. */
  insecure?: boolean;
  /** A client certificate to present; its key in `key`, or in the same file. */
  cert?: string;
  key?: string;
}

function readPem(file: string, setting: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigurationError(`${setting}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** Codes of a server certificate Node does not trust (openssl's verify results and Node's host name check). */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The server's alert when it wants a client certificate, or does not accept the one sent. */
const REFUSED_CLIENT = /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE)$/;

/** OpenSSL's reason of an OpenSSL error line ("…:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:…"). */
function readable(message: string): string {
  return /^[0-9A-F]+:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+):/.exec(message)?.[1] ?? message.trim();
}

/** An error and its causes, outermost first. */
function causes(err: unknown): { code?: unknown; message?: unknown }[] {
  const chain: { code?: unknown; message?: unknown }[] = [];
  for (let e = err; e && typeof e === 'object' && !chain.includes(e) && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

/**
 * The clear error for a TLS failure in a fetch error's cause chain — or in `alert`, an error the
 * connection's socket had, when the call failed only as a closed socket; undefined for any other failure.
 */
export function certificateError(err: unknown, url: string, tls: TlsOptions, alert?: NodeJS.ErrnoException): CertificateError | undefined {
  const chain = causes(err);
  const isTls = (c: { code?: unknown }) => typeof c.code === 'string' && (UNTRUSTED.has(c.code) || REFUSED_CLIENT.test(c.code));
  const closed = chain.some((c) => c.code === 'UND_ERR_SOCKET');
  const cause = chain.find(isTls) ?? (alert && closed && isTls(alert) ? alert : undefined);
  if (!cause) return undefined;
  const code = String(cause.code);
  const what = `${url}: ${readable(String(cause.message))} (${code})`;
  if (UNTRUSTED.has(code)) {
    const fix = tls.cacert
      ? `the CA file ${tls.cacert} (cacert, OS_CACERT) does not vouch for it`
      : 'give the CA that signed it with cacert (OS_CACERT, --os-cacert)';
    return new CertificateError(`the server's TLS certificate is not trusted: ${what}; ${fix}, or turn verification off with verify: false (OS_INSECURE=true, --insecure)`, url, code, { cause });
  }
  const fix = tls.cert ? `the client certificate ${tls.cert} (cert, OS_CERT) was refused` : 'it may want a client certificate: cert and key (OS_CERT, OS_KEY, --os-cert, --os-key)';
  return new CertificateError(`the server ended the TLS handshake: ${what}; ${fix}`, url, code, { cause });
}

/** The origin a connection is for, the same whether from a URL or from undici's connect options. */
const originOf = (protocol: string, hostname: string, port: string | number | null | undefined) =>
  `${protocol}//${hostname}:${port || (protocol === 'https:' ? 443 : 80)}`;

/** How long after a TLS alert on a connection a failed call to its origin is put down to it. */
const ALERT_WINDOW_MS = 10_000;

/** A fetch with these TLS settings and clear certificate errors, and close() to let go of its connections. */
export function tlsFetch(tls: TlsOptions = {}): { fetch: typeof fetch; close(): Promise<void> } {
  if (tls.key && !tls.cert) throw new ConfigurationError('key (OS_KEY) is given without cert (OS_CERT), the client certificate it belongs to');
  const connect: { ca?: Buffer; rejectUnauthorized?: boolean; cert?: Buffer; key?: Buffer } = {};
  if (tls.cacert) connect.ca = readPem(tls.cacert, 'cacert (OS_CACERT)');
  if (tls.insecure) connect.rejectUnauthorized = false;
  if (tls.cert) {
    connect.cert = readPem(tls.cert, 'cert (OS_CERT)');
    // As requests (and so openstacksdk) takes it: a cert file may hold the key too.
    connect.key = tls.key ? readPem(tls.key, 'key (OS_KEY)') : connect.cert;
  }
  // With TLS 1.3 a server refuses a client certificate (or its absence) after the handshake, by an
  // alert the socket reports as an error; undici then fails the request as "other side closed".
  // The alert is kept here, by origin, to explain that failure.
  const alerts = new Map<string, { error: NodeJS.ErrnoException; at: number }>();
  const base = buildConnector(connect);
  const connector: buildConnector.connector = (opts, callback) =>
    base(opts, (err, socket) => {
      (socket as Socket | null)?.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code?.startsWith('ERR_SSL_')) alerts.set(originOf(opts.protocol, opts.hostname, opts.port), { error: e, at: Date.now() });
      });
      // undici's callback type is a union of its two shapes; the call is the same.
      (callback as (e: Error | null, s: unknown) => void)(err, socket);
    });
  const dispatcher = new Agent({ connect: connector });
  const call = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<Response> => {
    try {
      // undici's Agent is the dispatcher Node's own fetch is built on (Node's RequestInit types do not name it).
      return await fetch(input, { ...init, dispatcher } as RequestInit);
    } catch (err) {
      const url = input instanceof Request ? input.url : String(input);
      let alert: NodeJS.ErrnoException | undefined;
      try {
        const u = new URL(url);
        const seen = alerts.get(originOf(u.protocol, u.hostname, u.port));
        if (seen && Date.now() - seen.at < ALERT_WINDOW_MS) alert = seen.error;
      } catch {
        // Not a URL: fetch's own error says so.
      }
      throw certificateError(err, url, tls, alert) ?? err;
    }
  };
  return { fetch: call, close: () => dispatcher.close() };
}
